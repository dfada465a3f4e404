"""django-extensions' `runserver_plus`, without Werkzeug's debugger unless DEBUG is on."""

from django.conf import settings
from django.core.management.base import CommandError
from django_extensions.management.commands import runserver_plus

from apps.demo import devserver


class Command(runserver_plus.Command):
    help = (
        "Serve the project over HTTPS for development (Werkzeug); "
        "the debugger only with DJANGO_DEBUG=1."
    )

    def inner_run(self, options):
        cert_file, key_file = self.tls_files(options)
        self.check(display_num_errors=self.show_startup_messages)
        self.check_migrations()
        handler = self.get_handler(**options)
        if settings.DEBUG:
            self.stderr.write(self.style.ERROR(devserver.DEBUGGER_WARNING))
            handler = devserver.with_debugger(handler)
        server = devserver.make_server(
            self.addr, int(self.port), handler, cert_file=cert_file, key_file=key_file
        )
        if self.show_startup_messages:
            self.stdout.write(f"Serving https://{self.addr}:{server.port}/ (Ctrl+C to quit).")
        devserver.serve(
            server,
            use_reloader=options["use_reloader"],
            extra_files=options["extra_files"],
            exclude_patterns=options["exclude_patterns"],
            interval=options["reloader_interval"],
            reloader_type=options["reloader_type"],
        )

    def tls_files(self, options) -> tuple[str, str]:
        if not (options["cert_path"] or options["key_file_path"]):
            raise CommandError(
                "This project serves HTTPS only: pass --cert-file certs/server.pem "
                "--key-file certs/server-key.pem (`make demo` creates them)."
            )
        cert_file, key_file = self.determine_ssl_files_paths(options)
        for path in (cert_file, key_file):
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise CommandError(
                    f"Cannot read {path}: {exc.strerror}. `make demo` (or "
                    "`manage.py prepare_demo`) creates the demo's certificates."
                ) from exc
        return cert_file, key_file
