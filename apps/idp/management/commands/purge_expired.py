"""Delete expired codes, grants, tokens, sessions and sign-in records (schedule it daily)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.utils import timezone

from apps.idp import retention


def _batch_size(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise CommandError(f"--batch-size must be a whole number above 0, not {text!r}.")
    return int(text)


class Command(BaseCommand):
    help = "Delete what can no longer be used: expired codes, grants and their tokens, sessions."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            default="500",
            help="Rows deleted per transaction (default: %(default)s): each batch holds the "
            "write lock briefly, so the IdP keeps serving while this runs.",
        )

    def handle(self, *args, batch_size, **options):
        lifetimes = retention.Lifetimes(
            code=timedelta(seconds=settings.OIDC_CODE_EXPIRE),
            refresh_idle=timedelta(seconds=settings.OIDC_REFRESH_IDLE_SECONDS),
            refresh_absolute=timedelta(seconds=settings.OIDC_REFRESH_ABSOLUTE_SECONDS),
            revoked_after=timedelta(days=settings.OIDC_PURGE_REVOKED_AFTER_DAYS),
            login_records=timedelta(days=settings.OIDC_PURGE_REVOKED_AFTER_DAYS),
            lockout=timedelta(hours=settings.AXES_COOLOFF_TIME),
            unused_registration=timedelta(seconds=settings.OIDC_REGISTRATION_UNUSED_SECONDS),
        )
        try:
            counts = retention.purge(timezone.now(), lifetimes, batch_size=_batch_size(batch_size))
        except DatabaseError as exc:
            raise CommandError(
                f"The database refused the purge ({exc}); nothing more was deleted."
            ) from exc
        for name, count in counts.items():
            self.stdout.write(f"{count:>8}  {name}")
        self.stdout.write(self.style.SUCCESS(f"Purged {sum(counts.values())} expired rows."))
