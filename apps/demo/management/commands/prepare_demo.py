"""Everything `make demo` does before the servers start: database, certificates, names, seed."""

import os
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apps.demo import certs, hosts, services
from apps.idp import services as idp_services

LOCALHOST_MODE = (
    "OIDC_SITE_URL=https://localhost:8443 RECEIVER_URL=https://127.0.0.1:8444/ make demo"
)


class Command(BaseCommand):
    help = "Migrate, create the local CA and keys, check host names, seed the user and client."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0, stdout=self.stdout)
        self.stdout.write(f"Database ready: {self._database_name()}")
        ca_path = self._certificates()
        self._host_names()
        idp_services.ensure_signing_keys()
        user = self._demo_user()
        call_command("seed_client", stdout=self.stdout)
        call_command("seed_resource_server", stdout=self.stdout)
        client_id = settings.PKCE_CLIENT_ID_FILE.read_text().strip()
        self._next_steps(user, client_id, ca_path)

    def _database_name(self) -> str:
        db = settings.DATABASES["default"]
        return f"{db['ENGINE'].rsplit('.', 1)[-1]} {db['NAME']}"

    def _certificates(self):
        names = tuple(
            dict.fromkeys([self._idp_host(), self._receiver_host(), *certs.DEFAULT_NAMES])
        )
        paths, created = certs.ensure_certificates(settings.CERTS_DIR, names)
        for what in created:
            self.stdout.write(
                self.style.SUCCESS(f"Created the demo's {what} in {paths.ca_cert.parent}/")
            )
        return paths.ca_cert

    def _idp_host(self) -> str:
        return urlsplit(settings.SITE_URL).hostname

    def _receiver_host(self) -> str:
        return urlsplit(settings.RECEIVER_URL).hostname

    def _host_names(self) -> None:
        missing = hosts.unresolved(list(dict.fromkeys([self._idp_host(), self._receiver_host()])))
        if not missing:
            return
        if hosts.add_to_hosts_file(missing):
            self.stdout.write(
                self.style.WARNING(f"Added to {hosts.HOSTS_FILE}: {hosts.hosts_line(missing)}")
            )
            return
        raise CommandError(
            f"{', '.join(missing)} must resolve to 127.0.0.1 and {hosts.HOSTS_FILE} is not "
            f"writable. Add this line to it (as root):\n\n    {hosts.hosts_line(missing)}\n\n"
            f"or run the demo on names that always resolve:\n\n    {LOCALHOST_MODE}\n"
        )

    def _demo_user(self) -> services.DemoUser:
        password_file = settings.VAR_DIR / "demo-password"
        if not password_file.exists():
            password_file.parent.mkdir(parents=True, exist_ok=True)
            password_file.touch(mode=0o600)
            password_file.write_text(secrets.token_urlsafe(12) + "\n")
        return services.ensure_demo_user(
            os.environ.get("DJANGO_SUPERUSER_USERNAME") or "demo",
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL") or "demo@example.com",
            password=os.environ.get("DJANGO_SUPERUSER_PASSWORD") or None,
            fallback_password=password_file.read_text().strip(),
        )

    def _next_steps(self, user: services.DemoUser, client_id: str, ca_path) -> None:
        password = (
            user.password or "(unchanged: the one you set; DJANGO_SUPERUSER_PASSWORD resets it)"
        )
        lines = [
            "",
            self.style.SUCCESS("The demo is ready. Servers start below; Ctrl+C stops both."),
            f"  IdP (issuer)   {settings.OIDC_ISSUER}",
            f"  Admin          {settings.SITE_URL}/admin/",
            f"  Receiver       {settings.RECEIVER_URL}",
            f"  Sign in as     {user.username} / {password}",
            f"  Client id      {client_id}",
            f"  Local CA       {ca_path}",
            "                 Trust it in your browser as an authority:",
            "                 Chromium: Settings > Privacy and security > Security >",
            "                   Manage certificates > Authorities > Import",
            "                 Firefox: Settings > Certificates > View Certificates >",
            "                   Authorities > Import",
            "",
            "  Next, in a second terminal:  make client",
            "",
        ]
        self.stdout.write("\n".join(lines))
