"""The seed's command-line client: sign in with Authorization Code + PKCE, then keep refreshing.

The edge: flags and settings in, a Terminal over the command's streams, then apps.client.run.
"""

import argparse
import os
import shutil
import sys
import time
import webbrowser
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.client import oidc, schedule, store
from apps.client.errors import ClientAbort
from apps.client.loopback import DEFAULT_TIMEOUT_SECONDS
from apps.client.run import RunSettings, run
from apps.client.session import Clock
from apps.client.terminal import Terminal, styles_wanted

DEFAULT_SCOPE = "openid profile email offline_access"


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _stdin_line() -> str:
    return sys.stdin.readline()


class Command(BaseCommand):
    help = "Sign in at the IdP as a public client (Authorization Code + PKCE), then refresh."

    # Seams for tests: how the command waits, how long it backs off, where pasted lines come from.
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    retry_delays: Callable[[], Iterator[float]] = staticmethod(schedule.retry_delays)
    read_line: Callable[[], str] = staticmethod(_stdin_line)
    open_url: Callable[[str], bool] = staticmethod(webbrowser.open)

    def add_arguments(self, parser):
        parser.add_argument(
            "--issuer",
            default=settings.OIDC_ISSUER,
            help="The IdP's issuer URL (default: %(default)s).",
        )
        parser.add_argument(
            "--resource",
            metavar="URL",
            help="The API to call, e.g. https://mysrv.local:8444/api/profile: its IdP is found "
            "from its answers (RFC 9728, RFC 8414), this client registers there (RFC 7591; "
            "kept with --remember) and asks for tokens for that API only (RFC 8707). "
            "--issuer and --client-id are then not used.",
        )
        parser.add_argument(
            "--client-id",
            help="The public client's id (default: PKCE_CLIENT_ID, else the id seed_client "
            f"wrote to {settings.PKCE_CLIENT_ID_FILE}).",
        )
        parser.add_argument(
            "--redirect-uri",
            default=settings.RECEIVER_URL,
            help="Registered redirect URI, the receiver page (default: %(default)s).",
        )
        parser.add_argument(
            "--scope", default=DEFAULT_SCOPE, help="Scopes to ask for (default: %(default)s)."
        )
        parser.add_argument(
            "--ca-file",
            default=str(settings.OIDC_CA_BUNDLE),
            help="CA certificate(s) to trust for the IdP, PEM (default: %(default)s).",
        )
        parser.add_argument(
            "--interval",
            type=_positive_seconds,
            default=60.0,
            help="Seconds between refreshes (default: %(default)g).",
        )
        parser.add_argument(
            "--max-refreshes",
            type=_count,
            metavar="N",
            help="Stop after N refreshes (default: refresh until Ctrl+C).",
        )
        # Not in --help: a code answers the PKCE challenge of the run that printed its URL,
        # so no person can have one before the run starts. Kept for scripts and tests that
        # drive the flow themselves (and to say clearly why a stale code fails).
        parser.add_argument("--code", help=argparse.SUPPRESS)
        parser.add_argument(
            "--open",
            action="store_true",
            dest="open_browser",
            help="Open the authorization URL in the system's browser.",
        )
        methods = parser.add_mutually_exclusive_group()
        methods.add_argument(
            "--loopback",
            action="store_true",
            help="Sign in through the browser, which hands the code back to this command on "
            "http://127.0.0.1:<a free port>/callback (RFC 8252): nothing to paste.",
        )
        methods.add_argument(
            "--device",
            action="store_true",
            help="Sign in with a code entered on another device (RFC 8628): for a terminal "
            "with no browser beside it (SSH, a container).",
        )
        parser.add_argument(
            "--remember",
            action="store_true",
            help="On exit keep the sign-in instead of revoking it; the next --remember run "
            "resumes it without signing in.",
        )
        parser.add_argument(
            "--store",
            metavar="PATH",
            help="Keep the sign-in in this file (mode 0600) (default: the OS keyring if one "
            f"is usable, else {store.default_store_path()}).",
        )
        methods.add_argument(
            "--status",
            action="store_true",
            help="Show the kept sign-in (issuer, client, user, scopes, expiry; never a token).",
        )
        methods.add_argument(
            "--logout",
            action="store_true",
            help="Revoke the kept sign-in at the IdP and delete it.",
        )
        parser.add_argument(
            "--no-dpop",
            action="store_true",
            help="Ask for Bearer tokens even when the IdP offers DPoP (RFC 9449): no proof "
            "key, so the tokens work for whoever holds them.",
        )
        parser.add_argument(
            "--api-url",
            metavar="URL",
            default=self.default_api_url(),
            help="The protected API to call after sign-in and each refresh; '' calls none "
            "(default: PKCE_API_URL, else RECEIVER_URL's api/profile: %(default)s).",
        )
        parser.add_argument(
            "--no-browser",
            action="store_true",
            help="With --loopback: print the URL only, open no browser.",
        )
        parser.add_argument(
            "--timeout",
            type=_positive_seconds,
            default=DEFAULT_TIMEOUT_SECONDS,
            help="With --loopback: seconds to wait for the browser (default: %(default)g).",
        )

    def handle(self, *args, **options):
        run_settings = RunSettings(
            issuer=options["issuer"],
            rp=oidc.RelyingParty(
                client_id="" if options["resource"] else self.client_id(options["client_id"]),
                redirect_uri=options["redirect_uri"],
                scope=options["scope"],
            ),
            ca_file=self.ca_file(options["ca_file"]),
            interval=options["interval"],
            max_refreshes=options["max_refreshes"],
            code=options["code"],
            open_browser=self.open_browser(options),
            method="loopback"
            if options["loopback"]
            else "device"
            if options["device"]
            else "paste",
            timeout=options["timeout"],
            remember=options["remember"],
            dpop=not options["no_dpop"],
            api_url=options["api_url"] or None,
            action="status" if options["status"] else "logout" if options["logout"] else "run",
            resource=options["resource"],
        )
        grant_store = None
        if options["remember"] or options["status"] or options["logout"]:
            path = Path(options["store"]).expanduser() if options["store"] else None
            backend = None if path else self.keyring_backend()  # --store: the file, as asked
            grant_store = store.open_store(path, backend)
        terminal = self.terminal()
        try:
            run(
                run_settings,
                terminal,
                read_line=self.read_line,
                clock=Clock(sleep=self.sleep),
                retry_delays=self.retry_delays,
                open_url=self.open_url,
                store=grant_store,
            )
        except ClientAbort as abort:
            raise CommandError(str(abort), returncode=abort.returncode) from abort

    def terminal(self) -> Terminal:
        """Styles unless NO_COLOR, TERM=dumb or not a terminal; wrapped to a terminal's width."""
        isatty = self.stdout.isatty()
        styled = styles_wanted(os.environ, isatty=isatty)
        return Terminal(
            self.stdout,
            self.stderr,
            success=self.style.SUCCESS if styled else str,
            warning=self.style.WARNING if styled else str,
            width=shutil.get_terminal_size().columns if isatty else None,
        )

    def execute(self, *args, **options):
        """From a shell, an expected error is its message alone (no "CommandError:")."""
        if not styles_wanted(os.environ, isatty=True):  # NO_COLOR, TERM=dumb
            options["no_color"] = True  # Django's own styles (its red errors) too
        try:
            return super().execute(*args, **options)
        except CommandError as error:
            if not getattr(self, "_called_from_command_line", False) or options.get("traceback"):
                raise
            self.stderr.write(str(error))
            raise SystemExit(error.returncode) from None

    def keyring_backend(self) -> object | None:
        """The OS keyring's backend, if keyring finds one (else its "fail" stand-in)."""
        import keyring  # only when a store is asked for: it looks for backends on import

        return keyring.get_keyring()

    def default_api_url(self) -> str:
        return settings.PKCE_API_URL or urljoin(settings.RECEIVER_URL, "api/profile")

    def open_browser(self, options: dict) -> bool:
        if options["loopback"]:
            return not options["no_browser"]  # the browser is the way back: open it by default
        return options["open_browser"]

    def client_id(self, given: str | None) -> str:
        if given:
            return given
        if settings.PKCE_CLIENT_ID:
            return settings.PKCE_CLIENT_ID
        id_file = Path(settings.PKCE_CLIENT_ID_FILE)
        remembered = id_file.read_text().strip() if id_file.is_file() else ""
        if remembered:
            return remembered
        raise CommandError(
            "No client id. Pass --client-id, or set PKCE_CLIENT_ID, or run `make demo` "
            f"(its seed_client registers the client and writes its id to {id_file})."
        )

    def ca_file(self, path: str) -> str:
        if not Path(path).is_file():
            raise CommandError(
                f"CA file {path} not found. `make demo` creates the demo's CA in certs/ca.pem; "
                "otherwise pass --ca-file (or set OIDC_CA_BUNDLE) to the CA that signed the "
                "IdP's certificate."
            )
        return path
