"""The token endpoint's grants: grant_type -> the module that serves it.

Each module exports `GRANT_TYPE`, `PARAMS` (the form parameters it reads, each allowed once)
and `handle(TokenRequest) -> TokenAnswer`, which reads top to bottom (parse, authenticate the
client, look up, check, write) and raises `apps.idp.errors.OAuthError`; and, if its writes
need no transaction around them on some database, `in_transaction() -> bool`. Serving a new grant
is one new module and one line below. `password` is absent: RFC 9700 §2.4 says MUST NOT.
"""

from collections.abc import Callable
from types import ModuleType

from apps.idp.grants import authorization_code, client_credentials, device_code, refresh_token
from apps.idp.grants.common import TokenAnswer, TokenRequest

_MODULES: tuple[ModuleType, ...] = (
    authorization_code,
    refresh_token,
    client_credentials,
    device_code,
)

Handler = Callable[[TokenRequest], TokenAnswer]
REGISTRY: dict[str, Handler] = {module.GRANT_TYPE: module.handle for module in _MODULES}
IN_TRANSACTION: dict[str, Callable[[], bool]] = {
    module.GRANT_TYPE: module.in_transaction
    for module in _MODULES
    if hasattr(module, "in_transaction")
}
GRANT_TYPES = tuple(REGISTRY)

# Every parameter a token request may carry, in a fixed order (the first repeated one is named).
PARAMS = tuple(
    dict.fromkeys(
        ("grant_type", *(name for module in _MODULES for name in module.PARAMS))
        + ("client_id", "client_secret")
    )
)
