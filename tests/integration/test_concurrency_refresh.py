"""Refresh token rotation under concurrency, against the real threaded TLS server."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from oidc_provider.models import Token

from apps.idp.models import Grant

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

PARALLEL = 20


def test_parallel_refreshes_with_one_token_succeed_exactly_once(origins, sign_in, refresh):
    refresh_token = sign_in()["refresh_token"]
    start = threading.Barrier(PARALLEL)

    def refresh_once(_: int) -> tuple[int, dict]:
        with requests.Session() as http:
            http.trust_env = False
            http.verify = origins.ca_file
            start.wait(timeout=30)
            answer = refresh(refresh_token, http)
            return answer.status_code, answer.json()

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        results = list(pool.map(refresh_once, range(PARALLEL)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (PARALLEL - 1), results
    assert {body["error"] for status, body in results if status == 400} == {"invalid_grant"}

    # The family is intact: one live token, the winner's, and it keeps working.
    winner = next(body for status, body in results if status == 200)
    assert Token.objects.count() == 1
    assert Grant.objects.get().revoked_at is None
    again = refresh(winner["refresh_token"])
    assert again.status_code == 200, again.text
