"""A requests.Session stand-in for unit tests: canned answers, a log of requests, no network."""

import json
from typing import Any

import requests


def response(
    status: int = 200,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    url: str = "https://idp.example/oidc/x",
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.url = url
    answer.headers.update(headers or {})
    if text is not None:
        answer._content = text.encode()
    elif body is not None:
        answer._content = json.dumps(body).encode()
        answer.headers.setdefault("Content-Type", "application/json")
    else:
        answer._content = b""
    return answer


class StubHTTP:
    """Answers by (method, url); a list answers successive requests, an exception is raised."""

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.answers = {
            key: list(value) if isinstance(value, list) else [value]
            for key, value in answers.items()
        }
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append((method, url, kwargs))
        queue = self.answers[(method, url)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def count(self, method: str, url: str) -> int:
        return sum(1 for call in self.calls if call[:2] == (method, url))
