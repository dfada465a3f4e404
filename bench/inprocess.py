"""CPU and queries per request of the token path, in one process: no TLS, no server, no load.

    .venv/bin/python bench/inprocess.py [--id-token-alg ES256]

Django's test client drives one grant (sign-in, consent, code + PKCE exchange); then
Werkzeug's test client follows its refresh chain --requests times and calls userinfo as
often through config.wsgi.application, the servers' entry point, timing the process's own
CPU (time.process_time) in batches; the fastest batch is the figure (other work on the
machine only adds to it), the median beside it. On PostgreSQL it also counts one request's
round trips to the server from libpq's protocol trace (a ReadyForQuery ends each one, BEGIN
and COMMIT included, which Django's statement hooks never see).
"""

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
BATCHES = 8


def _record(statements: list[str], execute, sql, *rest):
    statements.append(sql)
    return execute(sql, *rest)


def round_trips(connection, call) -> int | None:
    """PostgreSQL: the round trips of one `call` on `connection`; None on other databases."""
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    pgconn = connection.connection.pgconn  # psycopg's libpq connection
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            call()
        finally:
            pgconn.untrace()
        trace.seek(0)
        return sum("\tReadyForQuery\t" in line for line in trace)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id-token-alg", choices=("RS256", "ES256"), default="RS256")
    parser.add_argument("--requests", type=int, default=400)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(BASE_DIR / "bench"))
    sys.path.insert(0, str(BASE_DIR))
    import run  # noqa: F401 (sets the bench's environment: database, site URL, lifetimes)

    run.prepare_database(args.id_token_alg)
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from werkzeug.test import Client as WSGIClient

    from apps.client import pkce
    from config.wsgi import application
    from tests import flows

    host = run.SITE_URL.split("//", 1)[1]
    client = Client(HTTP_HOST=host)
    client.force_login(get_user_model().objects.get(username=run.USERNAME))
    verifier = pkce.make_verifier()
    params = flows.authorize_params(run.CLIENT_ID, run.REDIRECT_URI, verifier)
    consent_page = client.get("/oidc/authorize", params, secure=True)
    action, fields = flows.form_inputs(consent_page.content.decode())
    fields["allow"] = "Allow"
    redirect = client.post(action, fields, secure=True)
    code = flows.redirect_params(redirect["Location"])["code"]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": run.REDIRECT_URI,
        "client_id": run.CLIENT_ID,
        "code_verifier": verifier,
    }
    tokens = client.post(  # the token endpoint takes urlencoded forms only (RFC 6749 §3.2)
        "/oidc/token",
        urlencode(exchange),
        content_type="application/x-www-form-urlencoded",
        secure=True,
    ).json()

    server = WSGIClient(application)

    def refresh() -> None:
        answer = server.post(
            "/oidc/token",
            base_url=run.SITE_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": run.CLIENT_ID,
            },
        )
        assert answer.status_code == 200, answer.text  # noqa: S101 (a benchmark's check)
        tokens.update(answer.json)

    def userinfo() -> None:
        answer = server.get(
            "/oidc/userinfo",
            base_url=run.SITE_URL,
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        )
        assert answer.status_code == 200, answer.text  # noqa: S101

    print(f"ID tokens {args.id_token_alg}, {connection.vendor}")
    for name, call in (("refresh", refresh), ("userinfo", userinfo)):
        for _ in range(20):
            call()  # warm-up: imports, parsed keys, prepared caches
        statements: list[str] = []
        with connection.execute_wrapper(partial(_record, statements)):
            call()
        trips = round_trips(connection, call)
        batches = []
        for _ in range(BATCHES):  # the fastest batch: the least disturbed by other work
            started = time.process_time()
            for _ in range(args.requests // BATCHES):
                call()
            batches.append((time.process_time() - started) * 1000 / (args.requests // BATCHES))
        cpu_ms, median = min(batches), statistics.median(batches)
        print(
            f"  {name:9} {cpu_ms:6.2f} ms CPU/request (median batch {median:.2f})"
            f"  {len(statements)} SQL statements"
            + (f", {trips} round trips" if trips is not None else "")
            + ":"
        )
        for sql in statements:
            print(f"      {sql[:70]}{'...' if len(sql) > 70 else ''}")


if __name__ == "__main__":
    main()
