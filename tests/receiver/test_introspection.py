"""apps.receiver.introspection: the RFC 7662 call and the cache, with a stub session."""

import pytest
import requests

from apps.receiver import introspection

ENDPOINT = "https://idp.test/oidc/introspect"


class StubResponse:
    def __init__(self, status_code: int, body):
        self.status_code = status_code
        self._body = body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class StubSession:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls: list[dict] = []

    def post(self, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


ACTIVE = {"active": True, "sub": "7", "scope": "openid profile", "client_id": "cli", "exp": 2000}


def ask(http, token="tok"):  # noqa: S107 (a stub value)
    return introspection.introspect(http, ENDPOINT, token, client_id="rs", client_secret="s3")


def test_an_active_token_is_described_and_the_call_authenticates():
    http = StubSession(StubResponse(200, ACTIVE))
    assert ask(http) == introspection.ActiveToken(
        sub="7", scope=("openid", "profile"), client_id="cli", exp=2000
    )
    call = http.calls[0]
    assert call["url"] == ENDPOINT
    assert call["auth"] == ("rs", "s3")
    assert call["data"]["token"] == "tok"
    assert call["timeout"] == introspection.TIMEOUT_SECONDS


@pytest.mark.parametrize(
    "body",
    [
        {"active": False},
        {"active": "true", "sub": "7", "client_id": "cli"},
        {"active": True, "client_id": "cli"},  # no user: a client_credentials token
        {"active": True, "sub": "", "client_id": "cli"},
    ],
)
def test_inactive_or_userless_tokens_are_none(body):
    assert ask(StubSession(StubResponse(200, body))) is None


@pytest.mark.parametrize(
    "answer",
    [
        StubResponse(401, {"error": "invalid_client"}),
        StubResponse(500, "oops"),
        StubResponse(200, ValueError("not json")),
        StubResponse(200, ["active"]),
        StubResponse(200, {**ACTIVE, "scope": ["openid"]}),
        StubResponse(200, {**ACTIVE, "exp": "soon"}),
        requests.ConnectionError("refused"),
    ],
)
def test_an_idp_that_cannot_say_is_an_introspection_error(answer):
    with pytest.raises(introspection.IntrospectionError):
        ask(StubSession(answer))


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def active(exp: float | None = 2000) -> introspection.ActiveToken:
    return introspection.ActiveToken(sub="7", scope=("openid",), client_id="cli", exp=exp)


def counting(result):
    calls = []

    def ask_idp(token):
        calls.append(token)
        return result

    return ask_idp, calls


def test_the_cache_reuses_an_active_answer_for_its_lifetime_only():
    clock = Clock()
    cache = introspection.IntrospectionCache(30, clock=clock)
    ask_idp, calls = counting(active())
    assert cache.lookup("tok", ask_idp) == active()
    clock.now += 29
    assert cache.lookup("tok", ask_idp) == active()
    assert len(calls) == 1
    clock.now += 2
    cache.lookup("tok", ask_idp)
    assert len(calls) == 2


def test_the_cache_never_outlives_the_token():
    clock = Clock(1990)
    cache = introspection.IntrospectionCache(30, clock=clock)
    ask_idp, calls = counting(active(exp=2000))
    cache.lookup("tok", ask_idp)
    clock.now = 2000
    cache.lookup("tok", ask_idp)
    assert len(calls) == 2


def test_an_answer_already_past_its_exp_is_not_active():
    cache = introspection.IntrospectionCache(30, clock=Clock(3000))
    ask_idp, _ = counting(active(exp=2000))
    assert cache.lookup("tok", ask_idp) is None


def test_inactive_answers_are_not_cached():
    cache = introspection.IntrospectionCache(30, clock=Clock())
    ask_idp, calls = counting(None)
    assert cache.lookup("tok", ask_idp) is None
    assert cache.lookup("tok", ask_idp) is None
    assert len(calls) == 2


def test_a_zero_ttl_asks_every_time():
    cache = introspection.IntrospectionCache(0, clock=Clock())
    ask_idp, calls = counting(active())
    cache.lookup("tok", ask_idp)
    cache.lookup("tok", ask_idp)
    assert len(calls) == 2


def test_tokens_are_cached_apart():
    cache = introspection.IntrospectionCache(30, clock=Clock())
    other = introspection.ActiveToken(sub="8", scope=(), client_id="cli", exp=None)
    cache.lookup("a", lambda token: active())
    assert cache.lookup("b", lambda token: other) == other
    assert cache.lookup("a", lambda token: other) == active()


def test_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(introspection, "CACHE_MAX_ENTRIES", 3)
    cache = introspection.IntrospectionCache(30, clock=Clock())
    for number in range(10):
        cache.lookup(f"tok-{number}", lambda token: active())
    assert len(cache._entries) <= 3
