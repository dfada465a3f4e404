"""CPU and queries per request of the token path, in one process: no TLS, no server, no load.

    .venv/bin/python bench/inprocess.py [--id-token-alg ES256]

Django's test client drives one grant (sign-in, consent, code + PKCE exchange); then
Werkzeug's test client follows its refresh chain --requests times and calls userinfo as
often through config.wsgi.application, the servers' entry point, timing the process's own
CPU (time.process_time) in batches; the fastest batch is the figure (other work on the
machine only adds to it), the median beside it. refresh-dpop and userinfo-dpop do the same
with a second grant bound to a P-256 key (RFC 9449), each request with a fresh proof; the
proofs are signed before each batch's clock starts, so only the server's side is counted.
On PostgreSQL it also counts one request's round trips to the server from libpq's protocol
trace (a ReadyForQuery ends each one, BEGIN and COMMIT included, which Django's statement
hooks never see).
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


def round_trips(connection, call, proof: str | None) -> int | None:
    """PostgreSQL: the round trips of one `call(proof)` on `connection`; None elsewhere."""
    if connection.vendor != "postgresql":
        return None
    connection.ensure_connection()
    pgconn = connection.connection.pgconn  # psycopg's libpq connection
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        try:
            call(proof)
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

    def exchange_code(headers: dict[str, str]) -> dict:
        # The token endpoint takes urlencoded forms only (RFC 6749 §3.2).
        consent_page = client.get("/oidc/authorize", params, secure=True)
        action, fields = flows.form_inputs(consent_page.content.decode())
        redirect = client.post(action, {**fields, "allow": "Allow"}, secure=True)
        form = {**exchange, "code": flows.redirect_params(redirect["Location"])["code"]}
        answer = client.post(
            "/oidc/token",
            urlencode(form),
            content_type="application/x-www-form-urlencoded",
            secure=True,
            headers=headers,
        )
        return answer.json()

    tokens = exchange_code({})
    dpop_key = run.new_dpop_key()
    dpop_tokens = exchange_code({"DPoP": run.dpop_exchange_proof(dpop_key)})
    assert dpop_tokens["token_type"] == "DPoP", dpop_tokens  # noqa: S101, S105

    server = WSGIClient(application)

    def refresh(user: dict, proof: str | None) -> None:
        answer = server.post(
            "/oidc/token",
            base_url=run.SITE_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": user["refresh_token"],
                "client_id": run.CLIENT_ID,
            },
            headers={"DPoP": proof} if proof else {},
        )
        assert answer.status_code == 200, answer.text  # noqa: S101 (a benchmark's check)
        user.update(answer.json)

    def userinfo(user: dict, proof: str | None) -> None:
        scheme = "DPoP" if proof else "Bearer"
        headers = {"Authorization": f"{scheme} {user['access_token']}"}
        answer = server.get(
            "/oidc/userinfo",
            base_url=run.SITE_URL,
            headers={**headers, "DPoP": proof} if proof else headers,
        )
        assert answer.status_code == 200, answer.text  # noqa: S101

    def no_proof() -> None:
        return None

    def refresh_proof() -> str:
        return run.dpop_exchange_proof(dpop_key)  # POST to the token endpoint, as the exchange

    def userinfo_proof() -> str:
        return run.dpop_proof(
            dpop_key, "GET", f"{run.SITE_URL}/oidc/userinfo", dpop_tokens["access_token"]
        )

    print(f"ID tokens {args.id_token_alg}, {connection.vendor}")
    scenarios = (
        ("refresh", partial(refresh, tokens), no_proof),
        ("userinfo", partial(userinfo, tokens), no_proof),
        ("refresh-dpop", partial(refresh, dpop_tokens), refresh_proof),
        ("userinfo-dpop", partial(userinfo, dpop_tokens), userinfo_proof),
    )
    for name, call, make_proof in scenarios:
        for _ in range(20):
            call(make_proof())  # warm-up: imports, parsed keys, prepared caches
        statements: list[str] = []
        with connection.execute_wrapper(partial(_record, statements)):
            call(make_proof())
        trips = round_trips(connection, call, make_proof())
        batches = []
        per_batch = args.requests // BATCHES
        for _ in range(BATCHES):  # the fastest batch: the least disturbed by other work
            proofs = [make_proof() for _ in range(per_batch)]  # the client's work: not timed
            started = time.process_time()
            for proof in proofs:
                call(proof)
            batches.append((time.process_time() - started) * 1000 / per_batch)
        cpu_ms, median = min(batches), statistics.median(batches)
        print(
            f"  {name:13} {cpu_ms:6.2f} ms CPU/request (median batch {median:.2f})"
            f"  {len(statements)} SQL statements"
            + (f", {trips} round trips" if trips is not None else "")
            + ":"
        )
        for sql in statements:
            print(f"      {sql[:70]}{'...' if len(sql) > 70 else ''}")


if __name__ == "__main__":
    main()
