"""The entry point `make serve` gives granian: the WSGI app behind a front that reads bodies.

Under granian's WSGI interface a request's body is read by the Python thread that runs the
request, so a client sending its body one byte at a time holds that thread for as long as it
likes, and 2 workers x 2 threads are held by four such clients (issue #10, item 2). Here the
body is read first, in the worker's event loop, where a slow client costs no thread: within
`SERVE_BODY_TIMEOUT_SECONDS` (else 408) and up to `SERVE_MAX_BODY_BYTES` (else 413), both
answered with `Connection: close`. Only then does the request go to config.wsgi.application
(or, for userinfo's everyday answer, config.fast_lane) on one of `SERVE_THREADS` threads
(Django refuses database access on an event loop's own thread), with its middleware and
views unchanged. The interface is granian's own (RSGI):
the body arrives as bytes, without ASGI's message dicts; Django's ASGIHandler would also run
every synchronous view on one shared thread (asgiref's thread_sensitive).

The header read timeout (granian's --http1-header-read-timeout) and the TLS handshake's
(granian's, 10 s) are the server's: see Procfile.serve.
"""

import asyncio
import queue
import threading
from collections.abc import Callable, Iterable

from django.conf import settings
from granian.rsgi import ProtocolClosed

from config import body_limits
from config.wsgi import application as wsgi_application
from config.wsgi_environ import build_environ

# isort: split
from config import fast_lane  # after config.wsgi, which sets Django up

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Answer = body_limits.Answer
# Given a request's scope and body: the work that answers it on a thread (None there: Django
# answers after all), or None for Django at once. config.fast_lane is the one in use.
Shortcut = Callable[[object, bytes], Callable[[], Answer | None] | None]


def run_wsgi(app: WSGIApp, environ: dict) -> Answer:
    """Call the WSGI app and read its whole answer, on the thread that handled the request
    (Django's request_finished, which closes its database connections, runs in close())."""
    started: list = []

    def start_response(status: str, headers: list, exc_info=None):
        if exc_info and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    status, headers = started
    return int(status[:3]), headers, body


def _settle(future: asyncio.Future, result=None, error: BaseException | None = None) -> None:
    if future.done():  # the request's task was cancelled meanwhile
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class ThreadPool:
    """`threads` threads that run calls for an event loop, fed through one queue.

    What concurrent.futures' pool with loop.run_in_executor does, for half its CPU per call
    (about 25 against 55 microseconds here, measured in docs/benchmarks.md): no
    concurrent.futures.Future, its lock and its callbacks between the two sides.
    """

    def __init__(self, threads: int) -> None:
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"django-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (call := self._calls.get()) is not None:
            loop, future, function, args = call
            try:
                result = function(*args)
            except BaseException as error:  # noqa: BLE001 (handed to the awaiting request)
                loop.call_soon_threadsafe(_settle, future, None, error)
            else:
                loop.call_soon_threadsafe(_settle, future, result)

    async def run(self, function: Callable, *args):
        """function(*args) on one of the threads; its result, or its exception raised here."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._calls.put((loop, future, function, args))
        return await future

    def close(self) -> None:
        """Let the threads finish what they run, then stop them."""
        for _ in self._threads:
            self._calls.put(None)
        for thread in self._threads:
            thread.join()


class BodyFirstFront:
    """An RSGI app: the request's body read in the event loop, then `shortcut`'s work or `app`
    on a thread."""

    def __init__(
        self,
        app: WSGIApp,
        limits: body_limits.BodyLimits,
        threads: int,
        shortcut: Shortcut | None = None,
    ) -> None:
        self.app = app
        self.limits = limits
        self.threads = threads
        self.shortcut = shortcut
        self.pool: ThreadPool | None = None

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = ThreadPool(self.threads)  # in each worker process, once it has started

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.pool:
            self.pool.close()

    async def __rsgi__(self, scope, protocol) -> None:
        if scope.proto != "http":
            return  # granian runs with --no-ws
        headers = scope.headers
        declared = headers.get("content-length")
        if declared is not None and not self.limits.allows(declared):
            return self._refuse(scope, protocol, body_limits.TOO_LARGE)
        body = b""
        if declared != "0" and (declared is not None or "transfer-encoding" in headers):
            try:
                async with asyncio.timeout(self.limits.timeout_seconds):
                    if declared is not None:  # hyper delivers no more than it declares
                        body = await protocol()
                    else:  # chunked: counted as it comes
                        body = await body_limits.read_capped(protocol, self.limits.max_bytes)
            except TimeoutError:
                return self._refuse(scope, protocol, body_limits.TOO_SLOW)
            except body_limits.BodyTooLarge:
                return self._refuse(scope, protocol, body_limits.TOO_LARGE)
            except ProtocolClosed:  # the client went away mid-body: nobody to answer
                return None
            if declared is not None and len(body) != int(declared):
                return None  # cut short: the client is gone, and half a form is not a request
        work = self.shortcut(scope, body) if self.shortcut else None
        if work is not None and (answer := await self.pool.run(work)) is not None:
            protocol.response_bytes(*answer)
            return None
        environ = build_environ(scope, body)
        status, response_headers, content = await self.pool.run(run_wsgi, self.app, environ)
        protocol.response_bytes(status, response_headers, content)
        return None

    def _refuse(self, scope, protocol, refusal: body_limits.Refusal) -> None:
        status, headers, content = body_limits.refusal_response(refusal, scope.path)
        protocol.response_bytes(status, headers, content)


application = BodyFirstFront(
    wsgi_application,
    body_limits.BodyLimits(settings.SERVE_MAX_BODY_BYTES, settings.SERVE_BODY_TIMEOUT_SECONDS),
    settings.SERVE_THREADS,
    shortcut=fast_lane.shortcut,
)
