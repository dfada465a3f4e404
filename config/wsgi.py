"""WSGI entry point for both origins (granian, runserver_plus and the tests load this app).

Browser pages get the whole middleware stack of settings.MIDDLEWARE. The back-channel
endpoints, called by programs with no cookies, get a lean one: no session, user, messages,
CSRF or login throttling to set up and tear down on every request (make bench, C=32: see the
README). Their security headers stay as on every other page: SecurityMiddleware (HSTS,
nosniff, referrer policy) and X-Frame-Options; origin routing stays too.

Their answers go back to the server as one bytes object, so granian writes each with a
Content-Length in one piece instead of walking Django's response as an iterator (a chunked
body, written apart from its headers: more TLS records and more CPU on both ends).
"""

import os
import re
from functools import lru_cache

import django
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.urls import URLResolver, get_resolver, set_urlconf
from django.urls.resolvers import ResolverMatch
from django.utils.module_loading import import_string

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The endpoints that only programs call. Each view is csrf_exempt and reads no session and no
# request.user; tests/test_wsgi.py checks both.
BACK_CHANNEL_PATH = re.compile(
    r"^/oidc/(?:token|userinfo|revoke|introspect|jwks|device_authorization|register"
    r"|\.well-known/openid-configuration)/?$"
    r"|^/oidc/register/[^/]+$"  # RFC 7592: a registration, read or deleted with its token
    r"|^/\.well-known/oauth-authorization-server(?:/oidc)?$"  # RFC 8414
    r"|^/(?:healthz|readyz|metrics)$"
    r"|^/(?:api/profile|\.well-known/oauth-protected-resource(?:/api/profile)?)$"  # receiver
)
BACK_CHANNEL_MIDDLEWARE = (
    "apps.idp.metrics.count_requests",
    "apps.idp.audit.tag_requests",
    "django.middleware.security.SecurityMiddleware",
    "config.origins.route_by_origin",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


@lru_cache(maxsize=256)  # the back-channel paths are few; RFC 7592's carry a client id
def resolve_path(resolver: URLResolver, path: str) -> ResolverMatch:
    """What `resolver` makes of `path`, worked out once: URL patterns do not change while the
    process runs, and Django would walk them on every request. Keyed by the resolver itself,
    which Django makes anew when its URL caches are cleared (as tests that swap URLconfs do).
    Resolver404 is raised each time, never cached."""
    return resolver.resolve(path)


class BackChannelHandler(WSGIHandler):
    """Django's WSGI handler with BACK_CHANNEL_MIDDLEWARE in place of settings.MIDDLEWARE.

    Django builds its chain from the setting alone, so this builds it the same way for these
    few synchronous middleware, which have no view, template or exception hooks. Paths are
    resolved once each (`resolve_path`).
    """

    def resolve_request(self, request):
        urlconf = getattr(request, "urlconf", None)  # set by config.origins for the receiver
        if urlconf is not None:
            set_urlconf(urlconf)
        request.resolver_match = resolve_path(get_resolver(urlconf), request.path_info)
        return request.resolver_match

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(BACK_CHANNEL_MIDDLEWARE):
            middleware = import_string(path)(handler)
            hooks = ("process_view", "process_template_response", "process_exception")
            if any(hasattr(middleware, hook) for hook in hooks):
                raise TypeError(f"{path} has hooks BackChannelHandler does not run")
            handler = convert_exception_to_response(middleware)
        self._middleware_chain = handler

    def __call__(self, environ, start_response):
        response = super().__call__(environ, start_response)
        if response.streaming:  # none of the back-channel views streams; kept as Django gives it
            return response
        try:
            body = response.content
        finally:
            response.close()  # what the server would call after the body: request_finished
        return [body]


def dispatch_by_path(pages: BaseHandler, back_channel: BaseHandler):
    def application(environ, start_response):
        handler = back_channel if BACK_CHANNEL_PATH.match(environ.get("PATH_INFO", "")) else pages
        return handler(environ, start_response)

    return application


django.setup(set_prefix=False)
application = dispatch_by_path(WSGIHandler(), BackChannelHandler())
