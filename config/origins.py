"""Serve the IdP and the receiver from one project, each on its own origin only."""

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound


@lru_cache(maxsize=8)  # a few settings' values, split on every request otherwise
def netloc(url: str) -> str:
    """The host of `url` as a request's Host header names it: with its port unless default."""
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "https" else 80
    return (
        parts.hostname if parts.port in (None, default_port) else f"{parts.hostname}:{parts.port}"
    )


def route_by_origin(get_response: Callable[[HttpRequest], HttpResponse]):
    """Pick the URLconf by the request's host: the receiver's origin sees only the receiver.

    The IdP's pages (admin, /oidc/, login) then answer 404 on the receiver's origin and the
    receiver's page answers 404 on the IdP's, as two separate sites would.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        host = request.get_host()
        if host == netloc(settings.RECEIVER_URL):
            request.urlconf = settings.RECEIVER_URLCONF
        elif host != netloc(settings.SITE_URL):
            return HttpResponseNotFound(
                f"This server answers as {settings.SITE_URL} and {settings.RECEIVER_URL}.",
                content_type="text/plain",
            )
        return get_response(request)

    return middleware
