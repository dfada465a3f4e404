"""The token endpoint's grants: grant_type -> the module that serves it.

Each module exports `GRANT_TYPE`, `PARAMS` (the form parameters it reads, each allowed once)
and `handle(TokenRequest) -> TokenAnswer`, which reads top to bottom (parse, authenticate the
client, look up, check, write) and raises `apps.idp.errors.OAuthError`. The token endpoint
runs `handle` in a write transaction, unless the module sets `OWNS_TRANSACTION = True`.
Serving a new grant is one new module and one line below. `password` is absent: RFC 9700
§2.4 says MUST NOT.
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
OWN_TRANSACTION = frozenset(
    module.GRANT_TYPE for module in _MODULES if getattr(module, "OWNS_TRANSACTION", False)
)
GRANT_TYPES = tuple(REGISTRY)

# Every parameter a token request may carry, in a fixed order (the first repeated one is named).
PARAMS = tuple(
    dict.fromkeys(
        ("grant_type", *(name for module in _MODULES for name in module.PARAMS))
        + ("client_id", "client_secret")
    )
)
