"""An ID token's claims (OpenID Connect Core 1.0 §2), shaped by django-oidc-provider's settings.

The library's `create_id_token` makes these claims, but on every call it imports its hooks
anew and finds the issuer by reversing a URL: a tenth of a refresh's Python time outside the
signature (docs/benchmarks.md). Here each hook is imported once per setting value, and the
issuer is OIDC_ISSUER, which the discovery document announces. The library's settings keep
their meaning: OIDC_IDTOKEN_EXPIRE, OIDC_IDTOKEN_SUB_GENERATOR, OIDC_IDTOKEN_INCLUDE_CLAIMS
(with OIDC_EXTRA_SCOPE_CLAIMS) and OIDC_IDTOKEN_PROCESSING_HOOK.
tests/idp/test_id_token.py holds these claims to the library's for the same inputs.
"""

import time
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from oidc_provider import settings as library_settings
from oidc_provider.lib.claims import StandardScopeClaims


def _setting(name: str) -> Any:
    """The project's value of a library setting, or the library's default (as its `get`)."""
    value = getattr(settings, name, None)
    return getattr(library_settings.default_settings, name) if value is None else value


@cache
def _imported(dotted_path: str) -> Any:
    return library_settings.import_from_str(dotted_path)


def _hooks(name: str) -> list[Any]:
    paths = _setting(name)
    return [_imported(path) for path in (paths if isinstance(paths, list | tuple) else [paths])]


def claims(
    token: Any,
    user: Any,
    aud: str,
    nonce: str | None = None,
    at_hash: str = "",
    request: Any = None,
) -> dict[str, Any]:
    """The claims of an ID token for `user` and the client `aud`, issued with `token`.

    `at_hash`: of the access token issued beside it (§3.1.3.6); `nonce`: the authorization
    request's, when it sent one (§3.1.2.1). `request` is passed to the processing hook.
    """
    now = int(time.time())
    authenticated_at: datetime = user.last_login or user.date_joined
    dic: dict[str, Any] = {
        "iss": settings.OIDC_ISSUER,
        "sub": _imported(_setting("OIDC_IDTOKEN_SUB_GENERATOR"))(user=user),
        "aud": str(aud),
        "exp": int(now + _setting("OIDC_IDTOKEN_EXPIRE")),
        "iat": now,
        "auth_time": int(authenticated_at.timestamp()),
    }
    if nonce:
        dic["nonce"] = str(nonce)
    if at_hash:
        dic["at_hash"] = at_hash
    if _setting("OIDC_IDTOKEN_INCLUDE_CLAIMS"):
        dic.update(StandardScopeClaims(token).create_response_dic())
        if extra := _setting("OIDC_EXTRA_SCOPE_CLAIMS"):
            dic.update(_imported(extra)(token).create_response_dic())
    for hook in _hooks("OIDC_IDTOKEN_PROCESSING_HOOK"):
        dic = hook(dic, user=user, token=token, request=request)
    return dic
