"""`manage.py runserver` as the seed's document means it: the IdP, over HTTPS, at OIDC_SITE_URL.

With no address, it serves the IdP on 127.0.0.1 at the port of OIDC_SITE_URL, with the demo
CA's server certificate: what `runserver_plus --cert-file ... 127.0.0.1:8443` does. With an
address or port it is Django's (and staticfiles') plain-HTTP runserver, unchanged.
"""

from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles.management.commands import runserver
from django.core.management.base import CommandError
from django.core.servers.basehttp import get_internal_wsgi_application
from django.utils import autoreload

from apps.demo import devserver
from apps.demo.certs import CertPaths

LOOPBACK = "127.0.0.1"  # a demo IdP with a known password stays off the network
LOOPBACK_IPV6 = "::1"


def origin_port(url: str) -> int:
    """The port an https:// URL names, or HTTPS's own."""
    return urlsplit(url).port or 443


def shown_path(path: Path) -> str:
    """`certs/server.pem` rather than an absolute path, when it is inside the project."""
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


class Command(runserver.Command):
    help = (
        "With no address: serve the IdP over HTTPS at OIDC_SITE_URL's port on 127.0.0.1 "
        "(certs/ from `make demo`). With an address or port: Django's plain-HTTP runserver."
    )

    def handle(self, *args, **options):
        if options["addrport"]:
            return super().handle(*args, **options)
        self.tls = CertPaths.in_directory(Path(settings.CERTS_DIR))
        for path in (self.tls.server_cert, self.tls.server_key):
            if not path.is_file():
                raise CommandError(
                    f"No certificate at {path}. Run `make demo` (or `manage.py prepare_demo`) "
                    "once: it creates the demo's CA and server certificate in "
                    f"{shown_path(Path(settings.CERTS_DIR))}/."
                )
        self.addr = LOOPBACK_IPV6 if options["use_ipv6"] else LOOPBACK
        self.port = origin_port(settings.SITE_URL)
        self.serve_idp_over_https(options)

    def serve_idp_over_https(self, options) -> None:
        autoreload.raise_last_exception()  # a setup error Django kept for the reloaded process
        if not options["skip_checks"]:
            self.check()  # silent when all is well: the first lines say where it serves
        handler = get_internal_wsgi_application()
        if settings.DEBUG:
            self.stderr.write(self.style.ERROR(devserver.DEBUGGER_WARNING))
            handler = devserver.with_debugger(handler)
        server = devserver.make_server(
            self.addr,
            self.port,
            handler,
            cert_file=str(self.tls.server_cert),
            key_file=str(self.tls.server_key),
        )
        if not devserver.is_reloaded_child():  # said once, not again on every reload
            self.stdout.write(self.startup_message(server.port))
        self.check_migrations()
        devserver.serve(server, use_reloader=options["use_reloader"])

    def startup_message(self, port: int) -> str:
        site = settings.SITE_URL
        listen = f"[{self.addr}]:{port}" if ":" in self.addr else f"{self.addr}:{port}"
        receiver_port = origin_port(settings.RECEIVER_URL)
        cert, key = shown_path(self.tls.server_cert), shown_path(self.tls.server_key)
        return "\n".join(
            [
                f"Serving the IdP at {site}/ over HTTPS (listening on {listen}; Ctrl+C to quit).",
                f"  Issuer  {settings.OIDC_ISSUER}",
                f"  Admin   {site}/admin/",
                f"The receiver ({settings.RECEIVER_URL}) is a second server, on port "
                f"{receiver_port}; in another terminal:",
                f"  python manage.py runserver_plus --cert-file {cert} --key-file {key} "
                f"{LOOPBACK}:{receiver_port}",
                "or stop this one and run `make demo`, which starts both.",
            ]
        )
