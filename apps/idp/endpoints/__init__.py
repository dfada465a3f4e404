"""The endpoints under /oidc/, one module each: protocol checks and the view that answers.

Back-channel endpoints (token, revocation, userinfo) answer JSON, errors rendered by
`apps.idp.errors`; the browser's (authorize, end_session) answer redirects or pages.
"""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, QueryDict
from django.views import View

from apps.idp.errors import InvalidRequest, OAuthError, json_error

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"


def repeated_param(query: QueryDict, names: tuple[str, ...]) -> str | None:
    """RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once."""
    return next((name for name in names if len(query.getlist(name)) > 1), None)


def form_body_refusal(request: HttpRequest) -> OAuthError | None:
    """Why a back-channel POST's body cannot be read as its form, or None.

    Only `application/x-www-form-urlencoded` (RFC 6749 §3.2); a body past Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE or DATA_UPLOAD_MAX_NUMBER_FIELDS would otherwise be
    Django's HTML "Bad Request", which no OAuth client can read.
    """
    if request.method != "POST":
        return None
    has_body = request.META.get("CONTENT_LENGTH") not in (None, "", "0")
    if (request.content_type or has_body) and request.content_type != FORM_MEDIA_TYPE:
        return InvalidRequest(f"Send the parameters as {FORM_MEDIA_TYPE}.")
    try:
        request.POST  # noqa: B018 -- parsed here so that its limits are met here
    except (RequestDataTooBig, TooManyFieldsSent):
        return InvalidRequest("The request body is too large or has too many fields.")
    return None


class FormBodyView(View):
    """A back-channel view: a body it cannot read is refused as OAuth JSON before any handler."""

    def refuse(self, error: OAuthError) -> HttpResponse:
        return json_error(error)

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if (refusal := form_body_refusal(request)) is not None:
            return self.refuse(refusal)
        return super().dispatch(request, *args, **kwargs)
