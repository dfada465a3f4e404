"""Register the receiver's API as a confidential client of the IdP, for token introspection."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.idp import services


class Command(BaseCommand):
    help = (
        "Create or update the resource server's confidential client (RFC 7662 introspection) "
        "and write its secret to var/resource_server_secret (mode 0600)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client-id", default=settings.RESOURCE_SERVER_CLIENT_ID)
        parser.add_argument(
            "--audience",
            action="append",
            help="Client id whose tokens the API accepts (repeatable; default: the id "
            "seed_client wrote to var/pkce_client_id).",
        )
        parser.add_argument(
            "--resource",
            action="append",
            help="RFC 8707 resource whose tokens the API accepts, from any client (repeatable; "
            "default: OIDC_RESOURCES).",
        )
        parser.add_argument(
            "--new-secret",
            action="store_true",
            help="Make a new secret even if one was written before (rotation).",
        )

    def handle(self, *args, client_id, audience, resource, new_secret, **options):
        audiences = tuple(audience or self._seeded_public_client())
        if not audiences and not resource and not settings.OIDC_RESOURCES:
            raise CommandError("No audience: run seed_client first, or pass --audience ID.")
        secret_file = settings.RESOURCE_SERVER_SECRET_FILE
        secret = os.environ.get("RESOURCE_SERVER_SECRET", "")
        if not secret and not new_secret and secret_file.exists():
            secret = secret_file.read_text().strip()
        secret = secret or services.new_client_secret()
        # Tokens bound to a resource are answered to the server whose scope names it
        # (apps.idp.endpoints.introspection): the resources join the client ids there.
        audiences += tuple(resource or settings.OIDC_RESOURCES)
        services.seed_resource_server(client_id, secret=secret, audiences=audiences)
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.touch(mode=0o600)
        secret_file.chmod(0o600)  # touch leaves an existing file's mode as it was
        secret_file.write_text(secret + "\n")
        self.stdout.write(
            self.style.SUCCESS(
                f"Resource server {client_id!r} ready for tokens of {', '.join(audiences)}; "
                f"secret in {secret_file}"
            )
        )

    def _seeded_public_client(self) -> list[str]:
        id_file = settings.PKCE_CLIENT_ID_FILE
        remembered = id_file.read_text().strip() if id_file.exists() else ""
        return [remembered] if remembered else []
