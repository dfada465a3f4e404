"""Procfile.serve, bench/run.py and tests/instances.py serve the IdP with the same flags."""

from pathlib import Path

from django.conf import settings

from config.serving import granian_arguments

PROCFILE = Path(settings.BASE_DIR) / "Procfile.serve"


def procfile_line(name: str) -> str:
    return next(line for line in PROCFILE.read_text().splitlines() if line.startswith(f"{name}:"))


def test_procfile_serve_runs_the_idp_with_the_flags_bench_and_the_tests_use():
    expected = granian_arguments(
        host="${SERVE_HOST:-127.0.0.1}",
        port="${SERVE_IDP_PORT:-8443}",
        workers="${WEB_CONCURRENCY:-2}",
        certificate="certs/server.pem",
        key="certs/server-key.pem",
        header_timeout_ms="${SERVE_HEADER_TIMEOUT_MS:-10000}",
    )
    assert f" .venv/bin/granian {' '.join(expected)} " in procfile_line("idp")


def test_the_receiver_has_the_same_front_and_limits():
    expected = granian_arguments(
        host="${SERVE_HOST:-127.0.0.1}",
        port="${SERVE_RECEIVER_PORT:-8444}",
        workers="1",
        certificate="certs/server.pem",
        key="certs/server-key.pem",
        header_timeout_ms="${SERVE_HEADER_TIMEOUT_MS:-10000}",
    )
    assert f" .venv/bin/granian {' '.join(expected)} " in procfile_line("receiver")
