"""The authorization endpoint: the library's, plus PKCE S256, scope policy, code binding and
`iss` on every redirect to the client (RFC 9207).

Two URLs: `authorize` takes the authorization request, by GET or POST (OIDC Core §3.1.2.1);
it changes nothing, so it needs no CSRF token. `authorize/consent` takes the consent form's
answer, which issues a code: it is CSRF-protected.

Our checks raise `OAuthError`; `validate_params` hands them to the library as its
`AuthorizeError`, which its view renders as a redirect to the client; `with_issuer` then
rebuilds that redirect from plain values (errors in the query: only the code flow is served,
RFC 6749 §4.1.2.1). A request that cannot be sent back to the client gets a 400 page.
"""

import logging
import re
import time
from dataclasses import dataclass
from email.header import decode_header, make_header

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, QueryDict
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from oidc_provider import views as library
from oidc_provider.lib.endpoints.authorize import AuthorizeEndpoint
from oidc_provider.lib.errors import AuthorizeError, ClientIdError, RedirectUriError

from apps.idp import audit, dpop, policy, reauthentication, rfc8707
from apps.idp.endpoints import repeated_param
from apps.idp.errors import (
    AccountSelectionRequired,
    InvalidRequest,
    InvalidScope,
    LoginRequired,
    OAuthError,
    RegistrationNotSupported,
    RequestNotSupported,
    RequestUriNotSupported,
    UnauthorizedClient,
    UnsupportedResponseType,
    error_page,
)
from apps.idp.grants.common import signs_with_empty_key
from apps.idp.models import Grant, LoopbackAwareClient

logger = logging.getLogger(__name__)

GRANT_TYPE = "authorization_code"  # what the library's AuthorizeError is told
# The parameters whose errors cannot go back to the client (RFC 6749 §4.1.2.1): a page.
UNREDIRECTABLE = ("client_id", "redirect_uri")
# Errors the library has no description for (its AuthorizeError would fail to quote None).
DESCRIPTIONS = {
    rfc8707.InvalidTarget.error: "The resource is malformed or not one this IdP serves.",
}


class Refused(Exception):
    """The client or redirect_uri cannot be trusted: a 400 page, never a redirect."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description


class SignInRequired(Exception):
    """The person must sign in (again) before this request can go on."""

    def __init__(self, fresh: bool) -> None:
        super().__init__("sign-in required")
        self.fresh = fresh  # a sign-in from before this request does not count


@dataclass(frozen=True)
class SentCode:
    """A code as the library's create_response_uri uses what create_code returns: it calls
    `save()`, then puts `code` in the redirect. The row is saved already, holding only the
    code's hash, so `save()` has nothing left to do."""

    code: str

    def save(self) -> None:
        pass


class PublicClientAuthorizeEndpoint(AuthorizeEndpoint):
    """The library's authorization endpoint plus PKCE S256, scope policy and code binding."""

    client_class = LoopbackAwareClient  # its redirect_uri check: policy.redirect_uri_matches

    def __init__(self, request: HttpRequest) -> None:
        self.query = request.POST if request.method == "POST" else request.GET
        super().__init__(request)
        # RFC 9449 §10: the thumbprint of the key the code's exchange must prove. Kept in
        # params, so the consent form carries it (templates/oidc_provider/hidden_inputs.html).
        self.params["dpop_jkt"] = self.query.get("dpop_jkt", "")

    def validate_params(self) -> None:
        """Raises Refused (a page), SignInRequired, or AuthorizeError (a redirect)."""
        for name in UNREDIRECTABLE:
            if len(self.query.getlist(name)) > 1 or len(self.query.get(name, "")) > (
                policy.max_length_of(name)
            ):
                raise Refused("invalid_request", f"{name} is repeated or too long.")
        library_error = None
        try:
            super().validate_params()  # client and redirect_uri first: errors there are a page
        except (ClientIdError, RedirectUriError) as error:
            raise Refused(error.error, error.description) from error
        except AuthorizeError as error:
            library_error = error
        try:
            self.check_params(library_error)
        except OAuthError as error:
            raise self.redirect_error(error.error, error.description) from error
        self.check_sign_in()

    def redirect_error(self, error: str, reason: str) -> AuthorizeError:
        logger.info("authorize refused for client %s: %s", self.client.client_id, reason)
        refusal = AuthorizeError(self.params["redirect_uri"], error, GRANT_TYPE)
        refusal.description = refusal.description or DESCRIPTIONS.get(error, "")
        return refusal

    @property
    def state_to_echo(self) -> str:
        """The request's state, unless it was refused for its length (it cannot be echoed)."""
        state = self.params.get("state", "")
        return state if len(state) <= policy.max_length_of("state") else ""

    def check_params(self, library_error: AuthorizeError | None = None) -> None:
        """Our rules on top of the library's; raises OAuthError (the description is logged)."""
        # RFC 6749 §3.1: no parameter may appear twice, whether we read it or not; RFC 8707
        # lets `resource` repeat, which rfc8707 answers with its own error.
        names = tuple(name for name in self.query if name != rfc8707.PARAM)
        if repeated := repeated_param(self.query, names):
            raise InvalidRequest(f"{repeated} sent more than once")
        if too_long := policy.too_long_param(self.query.items()):
            raise InvalidRequest(f"{too_long} is longer than {policy.max_length_of(too_long)}")
        # OIDC Core §3.1.2.6: say what is not supported rather than ignore it.
        if self.query.get("request"):
            raise RequestNotSupported("request objects are not supported")
        if self.query.get("request_uri"):
            raise RequestUriNotSupported("request_uri is not supported")
        if self.query.get("registration"):
            raise RegistrationNotSupported("registration is not supported")
        if self.query.get("response_mode", "query") != "query":
            raise InvalidRequest("response_mode other than query")  # OAuth Multiple RT §2.1
        if self.params["response_type"] != "code":
            # Tokens in the front channel leak (RFC 9700 §2.1.2): only the code flow is served.
            raise UnsupportedResponseType("response_type other than code")
        if library_error is not None:
            error = OAuthError(library_error.description or library_error.error)
            error.error = library_error.error
            raise error
        try:
            self.max_age = policy.parse_max_age(self.query.get("max_age", ""))
        except ValueError as error:
            raise InvalidRequest(str(error)) from error
        if signs_with_empty_key(self.client):
            raise UnauthorizedClient("HS256 without a client secret")
        challenge = self.params["code_challenge"]
        method = self.params["code_challenge_method"]
        if self.client.client_type == "public" and not challenge:
            raise InvalidRequest("public client without code_challenge")  # RFC 9700 §2.1.1
        if challenge and (method != "S256" or not policy.is_s256_challenge(challenge)):
            # A missing method means `plain` (RFC 7636 §4.3), refused like an explicit one.
            raise InvalidRequest("code_challenge is not S256")
        dpop_jkt = self.params["dpop_jkt"]
        if dpop_jkt and not dpop.is_thumbprint(dpop_jkt):
            raise InvalidRequest("dpop_jkt is not a base64url SHA-256 JWK thumbprint")
        nonce, redirect_uri = self.params["nonce"], self.params["redirect_uri"]
        if not (policy.is_printable(nonce) and policy.is_printable(redirect_uri)):
            raise InvalidRequest("nonce not printable or too long")
        granted = policy.grantable_scopes(self.params["scope"], self.client.scope)
        if not granted:
            raise InvalidScope("no scope this client may get")
        self.params["scope"] = granted
        self.is_authentication = "openid" in granted
        self.params["resource"] = rfc8707.requested_resource(
            self.query.getlist(rfc8707.PARAM), settings.OIDC_RESOURCES
        )

    def check_sign_in(self) -> None:
        """prompt=login, select_account and max_age ask for a new sign-in: the current
        session stays until it succeeds (the library would sign the person out on a GET).

        Raises SignInRequired, or AuthorizeError for prompt=none.
        """
        prompt = set(self.params["prompt"])
        max_age = getattr(self, "max_age", None)
        wants_fresh = bool(prompt & policy.REAUTHENTICATING_PROMPTS) or max_age is not None
        # The library's get() must not act on these: it would log the person out.
        self.params["prompt"] = prompt - policy.REAUTHENTICATING_PROMPTS
        self.params["max_age"] = ""
        user = self.request.user
        if not user.is_authenticated:
            if "none" not in prompt:
                raise SignInRequired(fresh=wants_fresh)
            return  # the library answers login_required
        now = time.time()
        if not policy.must_reauthenticate(
            prompt, max_age, reauthentication.auth_time_of(self.request), now
        ):
            return
        asked_at = reauthentication.asked_at(self.query)
        signed_in_at = self.request.session.get(reauthentication.AUTH_TIME_SESSION_KEY)
        if asked_at is not None and isinstance(signed_in_at, int | float):
            if signed_in_at >= asked_at:
                return  # signed in again since this IdP asked
        if "none" in prompt:
            error = AccountSelectionRequired if "select_account" in prompt else LoginRequired
            problem = error("a new sign-in is needed, but prompt=none")
            raise self.redirect_error(problem.error, problem.description)
        raise SignInRequired(fresh=True)

    def create_code(self) -> SentCode:
        code = super().create_code()  # unsaved
        sent = SentCode(code.code)
        code.code = policy.token_hash(sent.code)  # a database dump holds no usable code
        code.save()
        grant = Grant.objects.create(
            client=self.client,
            code_hash=code.code,
            family=policy.new_family(),
            redirect_uri=self.params["redirect_uri"],
            created_at=timezone.now(),
            resource=self.params.get("resource", ""),
            dpop_jkt=self.params["dpop_jkt"],  # checked in check_params
        )
        audit.record(
            "code.issued",
            self.request,
            client_id=self.client.client_id,
            user_id=self.request.user.pk,
            grant_id=grant.pk,
        )
        return sent


def library_error_code(location: str, redirect_uri: str) -> str | None:
    """The error code the library wrote right after the redirect_uri, if this is its error
    redirect. Only that prefix is read: `state`, pasted in later, is never parsed."""
    if location.startswith("=?"):  # Django MIME-encoded a header that is not Latin-1
        location = str(make_header(decode_header(location)))
    match = re.match(re.escape(redirect_uri) + r"[?#]error=([a-z_]+)&", location)
    return match.group(1) if match else None


class _AuthorizationView(library.AuthorizeView):
    """What both URLs share: the endpoint kept, refusals as 400 pages, `iss` on redirects."""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.endpoint: PublicClientAuthorizeEndpoint | None = None
        query = request.POST if request.method == "POST" else request.GET
        if any(policy.has_control_characters(value) for value in query.getlist("state")):
            # The library would paste it into a Location header: Django refuses (a 500), and
            # no redirect can echo it. No genuine client sends one, so a page explains.
            return error_page(request, "invalid_request", "state has control characters.")
        try:
            response = super().dispatch(request, *args, **kwargs)
        except Refused as refusal:
            return error_page(request, refusal.error, refusal.description)
        except (ClientIdError, RedirectUriError) as error:
            # The library's post() catches these on GET only: a tampered form gave a 500.
            return error_page(request, error.error, error.description)
        except SignInRequired as needed:
            return self.sign_in(request, query, fresh=needed.fresh)
        return self.with_issuer(response)

    def authorize_endpoint_class(self, request: HttpRequest) -> PublicClientAuthorizeEndpoint:
        # Called by the library's get()/post(): keep the endpoint to know the redirect_uri.
        self.endpoint = PublicClientAuthorizeEndpoint(request)
        return self.endpoint

    def sign_in(self, request: HttpRequest, query: QueryDict, *, fresh: bool) -> HttpResponse:
        """To the login page, which returns to this request (rebuilt: it may be a POST).

        `fresh`: the request carries a signed "asked at" marker, and the login page is told
        to ask for credentials even though someone may be signed in.
        """
        back = query.copy()
        for name in ("csrfmiddlewaretoken", "allow"):
            back.pop(name, None)
        if fresh:
            back[reauthentication.MARKER] = reauthentication.new_marker()
        response = redirect_to_login(f"{reverse('idp:authorize')}?{back.urlencode()}")
        if fresh:
            response["Location"] += "&reauthenticate=1"
        return response

    def with_issuer(self, response: HttpResponse) -> HttpResponse:
        endpoint = self.endpoint
        location = response.get("Location", "") if response.status_code == 302 else ""
        client = getattr(endpoint, "client", None)
        if not (location and client and endpoint):
            return response
        redirect_uri = endpoint.params["redirect_uri"]
        if redirect_uri not in client.redirect_uris:
            return response
        error = library_error_code(location, redirect_uri)
        if error:
            description = AuthorizeError(redirect_uri, error, GRANT_TYPE).description
            description = description or DESCRIPTIONS.get(error)
            response["Location"] = policy.authorization_error_redirect(
                redirect_uri, settings.OIDC_ISSUER, error, description, endpoint.state_to_echo
            )
        elif policy.same_endpoint(location, redirect_uri):
            response["Location"] = policy.authorization_success_redirect(
                location, settings.OIDC_ISSUER
            )
        return response


@method_decorator(csrf_exempt, name="dispatch")
class AuthorizeView(_AuthorizationView):
    """The authorization request, by GET or POST: it shows a page or redirects, and changes
    nothing a third party could abuse, so a POST needs no CSRF token (like the GET)."""

    http_method_names = ["get", "post", "head", "options"]

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return super().get(request, *args, **kwargs)  # the endpoint reads request.POST


@method_decorator(csrf_protect, name="dispatch")
class ConsentView(_AuthorizationView):
    """The consent form's answer: it issues a code, so it needs the form's CSRF token."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        # Consent belongs to a signed-in user; the library would fail with a 500 here.
        if not request.user.is_authenticated:
            raise SignInRequired(fresh=False)
        response = super().post(request, *args, **kwargs)
        if self.endpoint is not None and getattr(self.endpoint, "client", None):
            audit.record(
                "consent.given" if request.POST.get("allow") else "consent.denied",
                request,
                client_id=self.endpoint.client.client_id,
                user_id=request.user.pk,
            )
        return response
