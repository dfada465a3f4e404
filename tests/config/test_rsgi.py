"""config/rsgi.py and config/body_limits.py without a server: fake RSGI scopes and protocols.

The real server, with real sockets, is in tests/integration/test_slow_clients.py.
"""

import asyncio
import json
import threading
from dataclasses import dataclass, field

import pytest
from granian.rsgi import ProtocolClosed

from config import body_limits
from config.rsgi import BodyFirstFront, run_wsgi
from config.wsgi_environ import build_environ

LIMITS = body_limits.BodyLimits(max_bytes=100, timeout_seconds=0.05)


class Headers:
    """granian's RSGIHeaders: lower-case names, several values per name."""

    def __init__(self, *pairs: tuple[str, str]) -> None:
        self.pairs = pairs

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.pairs))

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def get(self, name: str, default=None):
        values = self.get_all(name)
        return values[0] if values else default

    def __contains__(self, name: str) -> bool:
        return bool(self.get_all(name))


@dataclass
class Scope:
    headers: Headers = field(default_factory=Headers)
    method: str = "POST"
    path: str = "/oidc/token"
    query_string: str = ""
    proto: str = "http"
    http_version: str = "1.1"
    server: str = "127.0.0.1:8443"
    client: str = "127.0.0.1:50000"
    scheme: str = "https"
    authority: str | None = None


class Protocol:
    """Records the answer; the body arrives in `chunks`, or never when `stalls`."""

    def __init__(self, *chunks: bytes, stalls: bool = False, gone: bool = False) -> None:
        self.chunks = chunks
        self.stalls = stalls
        self.gone = gone
        self.answer: tuple[int, list, bytes] | None = None

    async def __call__(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    async def __aiter__(self):
        for chunk in self.chunks:
            yield chunk
        if self.stalls:
            await asyncio.sleep(3600)
        if self.gone:
            raise ProtocolClosed("RSGI transport is closed")  # what granian raises

    def response_bytes(self, status: int, headers: list, body: bytes) -> None:
        self.answer = (status, headers, body)


def echo_app(environ, start_response):
    """A WSGI app that answers with the body it read and what it saw of the request."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json")])
    seen = {key: environ.get(key) for key in ("CONTENT_LENGTH", "PATH_INFO", "HTTP_COOKIE")}
    return [json.dumps({"body": body.decode(), **seen}).encode()]


def serve(scope: Scope, protocol: Protocol, app=echo_app, shortcut=None) -> tuple[int, dict, bytes]:
    front = BodyFirstFront(app, LIMITS, threads=1, shortcut=shortcut)

    async def one_request() -> None:
        front.__rsgi_init__(asyncio.get_running_loop())
        try:
            await front.__rsgi__(scope, protocol)
        finally:
            front.__rsgi_del__(asyncio.get_running_loop())

    asyncio.run(one_request())
    if protocol.answer is None:
        return 0, {}, b""
    status, headers, body = protocol.answer
    return status, {name.lower(): value for name, value in headers}, body


def form(length: int | None = None, *extra: tuple[str, str]) -> Headers:
    pairs = [("content-type", "application/x-www-form-urlencoded"), *extra]
    if length is not None:
        pairs.append(("content-length", str(length)))
    return Headers(*pairs)


def test_the_app_gets_the_whole_body_read_before_it_runs():
    status, _, body = serve(Scope(form(10)), Protocol(b"grant", b"_type"))
    assert status == 200
    assert json.loads(body)["body"] == "grant_type"


def test_a_chunked_body_reaches_django_with_its_length():
    headers = form(None, ("transfer-encoding", "chunked"))
    status, _, body = serve(Scope(headers), Protocol(b"a=1", b"&b=2"))
    seen = json.loads(body)
    assert status == 200
    assert seen["body"] == "a=1&b=2" and seen["CONTENT_LENGTH"] == "7"


def test_a_declared_length_over_the_maximum_is_refused_before_anything_is_read():
    protocol = Protocol(stalls=True)  # never sends: the answer must not wait for it
    status, headers, body = serve(Scope(form(101)), protocol, app=pytest.fail)
    assert status == 413
    assert headers["connection"] == "close"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["error"] == "invalid_request"


def test_a_chunked_body_growing_past_the_maximum_is_refused():
    headers = form(None, ("transfer-encoding", "chunked"))
    status, headers, _ = serve(Scope(headers), Protocol(b"a" * 60, b"a" * 60), app=pytest.fail)
    assert status == 413 and headers["connection"] == "close"


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closed():
    status, headers, body = serve(Scope(form(50)), Protocol(b"a", stalls=True), app=pytest.fail)
    assert status == 408
    assert headers["connection"] == "close"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body)["error"] == "invalid_request"


def test_a_refused_page_body_is_plain_text():
    scope = Scope(form(101), path="/accounts/login/")
    status, headers, body = serve(scope, Protocol(), app=pytest.fail)
    assert status == 413
    assert headers["content-type"].startswith("text/plain") and b"larger" in body
    assert "cache-control" not in headers


def test_a_client_gone_mid_body_gets_no_answer_and_runs_nothing():
    assert serve(Scope(form(50)), Protocol(b"a", gone=True), app=pytest.fail)[0] == 0
    # The body ends, without an error, 49 bytes short of its Content-Length.
    assert serve(Scope(form(50)), Protocol(b"a"), app=pytest.fail)[0] == 0


def test_a_request_without_a_body_is_not_read_at_all():
    scope = Scope(Headers(("cookie", "a=1"), ("cookie", "b=2")), method="GET", path="/healthz")
    status, _, body = serve(scope, Protocol(stalls=True))  # stalls if it were read
    assert status == 200
    assert json.loads(body)["HTTP_COOKIE"] == "a=1; b=2"


def test_the_environ_is_what_granians_wsgi_interface_gives():
    scope = Scope(
        Headers(
            ("host", "localhost:8443"),
            ("content-type", "text/plain"),
            ("content-length", "2"),
            ("accept", "a"),
            ("accept", "b"),
            ("x-forwarded-for", "203.0.113.9"),
        ),
        method="GET",
        path="/caf\u00e9",
        query_string="q=%20",
        server="[::1]:8443",
        client="[::1]:50000",
    )
    environ = build_environ(scope, b"hi")
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9"  # UTF-8 bytes as latin-1, as PEP 3333
    assert environ["QUERY_STRING"] == "q=%20"
    assert environ["REMOTE_ADDR"] == "::1" and environ["SERVER_NAME"] == "::1"
    assert environ["SERVER_PORT"] == "8443"
    assert environ["HTTP_HOST"] == "localhost:8443"
    assert environ["CONTENT_TYPE"] == "text/plain" and environ["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ
    assert environ["HTTP_ACCEPT"] == "a,b"
    assert environ["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    assert environ["wsgi.url_scheme"] == "https" and environ["wsgi.input"].read() == b"hi"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"


def test_the_answer_is_read_and_closed_on_the_thread_that_ran_the_request():
    closed = []

    class Answer(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("404 Not Found", [("X-A", "1")])
        return Answer([b"no", b"pe"])

    assert run_wsgi(app, {}) == (404, [("X-A", "1")], b"nope")
    assert closed == [True]


@pytest.mark.parametrize(
    ("declared", "allowed"), [("0", True), ("100", True), ("101", False), ("1e3", False)]
)
def test_a_declared_length_is_allowed_up_to_the_maximum(declared, allowed):
    assert LIMITS.allows(declared) is allowed


def refusing_app(environ, start_response):
    raise AssertionError("the shortcut answered: Django must not run")


def test_a_shortcut_answers_on_a_thread_with_the_body_read_and_django_not_run():
    def shortcut(scope, body):
        def work():
            thread = threading.current_thread().name
            return 200, [("X-Seen", f"{body.decode()} on {thread}")], b"from the shortcut"

        return work

    status, headers, body = serve(
        Scope(form(5)), Protocol(b"hello"), app=refusing_app, shortcut=shortcut
    )
    assert (status, body) == (200, b"from the shortcut")
    assert headers["x-seen"] == "hello on django-0"  # not on the event loop's thread


@pytest.mark.parametrize("work", [None, lambda: None], ids=["declined", "gave-up"])
def test_a_request_the_shortcut_declines_or_gives_up_goes_to_django(work):
    status, _, body = serve(Scope(form(5)), Protocol(b"hello"), shortcut=lambda s, b: work)
    assert status == 200 and json.loads(body)["body"] == "hello"
