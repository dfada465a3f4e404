"""The development server `runserver` and `runserver_plus` run: Werkzeug's, no debugger, no stalls.

django-extensions wraps every app in Werkzeug's interactive debugger whatever DEBUG says, so
`/console` runs Python for whoever reads the PIN from the log. Here the debugger is added only
when the caller asks (DJANGO_DEBUG=1), and Werkzeug's TLS server, which completes each
handshake in its accept loop (one silent connection stalls every client), shakes hands in the
connection's own thread, under a deadline.
"""

import os
import ssl
from collections.abc import Callable
from typing import Any

from werkzeug._reloader import run_with_reloader
from werkzeug.debug import DebuggedApplication
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler, load_ssl_context

# A client that has not finished its TLS handshake, or sent nothing on an open connection,
# for this long is dropped. Browsers and `requests` finish a handshake in milliseconds.
HANDSHAKE_TIMEOUT_SECONDS = 10
IDLE_TIMEOUT_SECONDS = 30

DEBUGGER_WARNING = (
    "WARNING: DJANGO_DEBUG=1: Werkzeug's interactive debugger is on. Anyone who can reach "
    "this server and read its log (the PIN is printed there) can run Python in it. Turn it "
    "off (unset DJANGO_DEBUG) before anyone else can connect."
)


class TimelyRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, with a read deadline: an idle keep-alive connection is closed."""

    timeout = IDLE_TIMEOUT_SECONDS


class TLSServer(ThreadedWSGIServer):
    """A thread per connection; the TLS handshake happens there, not in the accept loop."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable[..., Any],
        *,
        cert_file: str,
        key_file: str,
        fd: int | None = None,
    ) -> None:
        super().__init__(host, port, app, TimelyRequestHandler, fd=fd)
        context = load_ssl_context(cert_file, key_file)
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )
        self.ssl_context = context  # Werkzeug reads it for wsgi.url_scheme

    def process_request_thread(self, request: ssl.SSLSocket, client_address: Any) -> None:
        try:
            request.settimeout(HANDSHAKE_TIMEOUT_SECONDS)
            request.do_handshake()
        except (OSError, ssl.SSLError):  # timed out, or not TLS at all: that client's loss
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)


def make_server(
    host: str, port: int, app: Callable[..., Any], *, cert_file: str, key_file: str
) -> TLSServer:
    """Bind (or, under the reloader, reuse the parent's socket) and return the server."""
    fd = os.environ.get("WERKZEUG_SERVER_FD") if os.environ.get("WERKZEUG_RUN_MAIN") else None
    server = TLSServer(
        host, port, app, cert_file=cert_file, key_file=key_file, fd=int(fd) if fd else None
    )
    server.socket.set_inheritable(True)
    os.environ["WERKZEUG_SERVER_FD"] = str(server.fileno())
    return server


def with_debugger(app: Callable[..., Any]) -> DebuggedApplication:
    """The app inside Werkzeug's interactive debugger; callers print DEBUGGER_WARNING first."""
    return DebuggedApplication(app, evalex=True)


def is_reloaded_child() -> bool:
    """True in the process Werkzeug's reloader started (it serves; its parent only watches)."""
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def serve(
    server: TLSServer,
    *,
    use_reloader: bool,
    extra_files: list[str] | None = None,
    exclude_patterns: list[str] | None = None,
    interval: float = 1,
    reloader_type: str = "auto",
) -> None:
    """Serve until Ctrl+C; with the reloader, in a child process restarted on code changes."""
    if not use_reloader:
        server.serve_forever()
        return
    try:
        run_with_reloader(
            server.serve_forever,
            extra_files=extra_files,
            exclude_patterns=exclude_patterns,
            interval=interval,
            reloader_type=reloader_type,
        )
    finally:
        server.server_close()
