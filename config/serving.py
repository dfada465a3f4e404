"""The granian command line `make serve` runs the IdP with, for bench/run.py and the tests.

Procfile.serve spells the same flags in shell (tests/config/test_serving.py checks that they
agree). The IdP is served through config/rsgi.py, granian's async interface, so that request
bodies are read without holding a Python thread; `--blocking-threads 1` is what granian asks
of that interface (Django's threads are SERVE_THREADS, config/rsgi.py's pool).
`--loop uvloop`: libuv's event loop instead of asyncio's own, about 5 % less CPU per request
(docs/benchmarks.md). Named rather than left to granian's `auto`, which takes whatever loop
is installed and falls back to asyncio's without a word.
`--http 1`: with HTTP/1 only, granian's header read timeout also covers a connection that
has sent nothing yet (with HTTP/2 possible, the first bytes are read without any timeout,
and an idle TLS connection is kept for ever).
"""

import sys

DEFAULT_HEADER_TIMEOUT_MS = 10_000


def granian_arguments(
    *,
    host: str,
    port: int | str,
    workers: int | str,
    certificate: str,
    key: str,
    header_timeout_ms: int | str = DEFAULT_HEADER_TIMEOUT_MS,
) -> list[str]:
    """granian's arguments for the IdP as Procfile.serve gives them (without its logging).
    Numbers may be shell expressions: tests/config/test_serving.py passes Procfile.serve's."""
    return [
        "config.rsgi:application",
        "--interface",
        "rsgi",
        "--no-ws",
        "--http",
        "1",
        "--http1-header-read-timeout",
        str(header_timeout_ms),
        "--blocking-threads",
        "1",
        "--loop",
        "uvloop",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--ssl-certificate",
        certificate,
        "--ssl-keyfile",
        key,
        "--workers-kill-timeout",
        "5",
        "--respawn-failed-workers",
    ]


def granian_command(**arguments) -> list[str]:
    """`python -m granian` with granian_arguments(**arguments), in this interpreter."""
    return [sys.executable, "-m", "granian", *granian_arguments(**arguments)]
