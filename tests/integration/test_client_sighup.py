"""A closed terminal (SIGHUP) ends `manage.py pkce_client` like Ctrl+C: it revokes first;
so does Ctrl+C when its output went into a pipe whose reader Ctrl+C ended first (`| tee`).

The client runs as a real process; a stand-in person signs in with requests and pastes
the receiver's URL into its stdin, then the test hangs up on it.
"""

import os
import queue
import re
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from oidc_provider.models import Token

from tests import flows
from tests.conftest import END_USER_PASSWORD

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30


def read_until(lines: queue.Queue, output: list[str], pattern: str) -> re.Match:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := re.search(pattern, "".join(output), re.MULTILINE)):
        if time.monotonic() > deadline:
            pytest.fail(f"client never printed {pattern!r}; it printed:\n{''.join(output)}")
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:
            pytest.fail(f"client ended early; it printed:\n{''.join(output)}")
        output.append(line)
    return found


def test_sighup_in_the_refresh_loop_revokes_and_ends_cleanly(origins, seed_client, end_user):
    process = flows.start_pkce_client(origins, "--interval", "1")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    try:
        url = read_until(lines, output, r"^  (https://\S+/authorize\?\S+)$").group(1)
        with requests.Session() as http:
            http.trust_env = False
            http.verify = origins.ca_file
            flows.log_in(http, origins.idp_url, "alice", END_USER_PASSWORD)
            answer = flows.consent(http, origins.idp_url, dict(parse_qsl(urlsplit(url).query)))
        process.stdin.write(f"{origins.receiver_url}?{urlencode(answer)}\n")
        process.stdin.flush()
        read_until(lines, output, r"refresh 1: access token")
        process.send_signal(signal.SIGHUP)
        assert process.wait(timeout=WAIT_SECONDS) == 0
        while (line := lines.get(timeout=5)) is not None:
            output.append(line)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    out = "".join(output)
    assert "Stopping (SIGHUP)." in out
    assert re.search(r"Refresh token \S+ revoked at https://\S+ \(RFC 7009\)", out) or (
        "Note: the IdP offers no revocation endpoint" in out
    )
    assert "Traceback" not in out


def sign_in_through(process: subprocess.Popen, origins, read: Callable[[str], re.Match]) -> None:
    """The person's part: sign in as alice, consent, paste the receiver's URL."""
    url = read(r"^  (https://\S+/authorize\?\S+)$").group(1)
    with requests.Session() as http:
        http.trust_env = False
        http.verify = origins.ca_file
        flows.log_in(http, origins.idp_url, "alice", END_USER_PASSWORD)
        answer = flows.consent(http, origins.idp_url, dict(parse_qsl(urlsplit(url).query)))
    process.stdin.write(f"{origins.receiver_url}?{urlencode(answer)}\n")
    process.stdin.flush()


def test_ctrl_c_revokes_even_when_the_pipe_it_wrote_into_is_gone(origins, seed_client, end_user):
    reading, writing = os.pipe()  # `make client | tee log`: Ctrl+C ends tee too
    process = flows.start_pkce_client(
        origins, "--interval", "1", stdout=writing, stderr=subprocess.PIPE
    )
    os.close(writing)
    output = b""

    def read(pattern: str) -> re.Match:
        nonlocal output
        deadline = time.monotonic() + WAIT_SECONDS
        while not (found := re.search(pattern, output.decode(), re.MULTILINE)):
            assert time.monotonic() < deadline, f"never printed {pattern!r}:\n{output.decode()}"
            if select.select([reading], [], [], 0.2)[0]:
                output += os.read(reading, 65536)
        return found

    try:
        sign_in_through(process, origins, read)
        read(r"refresh 1: access token")
        assert Token.objects.filter(user__username="alice").exists()
        os.close(reading)  # tee is gone first
        reading = -1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT_SECONDS) == 0
        errors = process.stderr.read()
    finally:
        if reading != -1:
            os.close(reading)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
    assert not Token.objects.filter(user__username="alice").exists()  # revoked all the same
