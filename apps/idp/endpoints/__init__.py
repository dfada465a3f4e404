"""The endpoints under /oidc/, one module each: protocol checks and the view that answers.

Back-channel endpoints (token, revocation, userinfo) answer JSON, errors rendered by
`apps.idp.errors`; the browser's (authorize, end_session) answer redirects or pages.
"""

from django.http import QueryDict


def repeated_param(query: QueryDict, names: tuple[str, ...]) -> str | None:
    """RFC 6749 §3.1 and §3.2: parameters MUST NOT be included more than once."""
    return next((name for name in names if len(query.getlist(name)) > 1), None)
