"""When a person last signed in, and the signed marker that asks for a new sign-in.

prompt=login, prompt=select_account and max_age (OIDC Core §3.1.2.1) must not end the current
session: the authorization endpoint sends the person to the login page with a marker of when
it asked, and goes on only once the session records a sign-in after that moment.
"""

import time

from django.core import signing
from django.http import HttpRequest, QueryDict

# When this session last signed in with credentials (set by the login view), epoch seconds.
AUTH_TIME_SESSION_KEY = "idp_auth_time"
# Our own parameter on the authorization URL the login page returns to: a signed timestamp
# of when this IdP asked for a new sign-in. A sign-in after it satisfies prompt=login/max_age.
MARKER = "idp_reauth"
SALT = "apps.idp.authorize.reauthenticate"
WINDOW_SECONDS = 600  # how long the person has to sign in again


def auth_time_of(request: HttpRequest) -> float | None:
    """When this session's person last gave credentials: the login view's record, else
    last_login (what the ID token's auth_time says)."""
    recorded = request.session.get(AUTH_TIME_SESSION_KEY)
    if isinstance(recorded, int | float):
        return float(recorded)
    user = request.user
    moment = user.last_login or user.date_joined
    return moment.timestamp() if moment else None


def record_sign_in(request: HttpRequest) -> None:
    """Called by the login view once credentials were checked."""
    request.session[AUTH_TIME_SESSION_KEY] = time.time()


def asked_at(query: QueryDict) -> float | None:
    """The moment in a valid marker of ours, None if there is none (or it is forged, stale)."""
    value = query.get(MARKER, "")
    if not value:
        return None
    try:
        asked_at = signing.loads(value, salt=SALT, max_age=WINDOW_SECONDS)
    except signing.BadSignature:
        return None
    return float(asked_at) if isinstance(asked_at, int | float) else None


def new_marker() -> str:
    """A signed "a new sign-in was asked for now", for the authorization URL to carry."""
    return signing.dumps(time.time(), salt=SALT)
