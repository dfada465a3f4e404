"""Measured suggestions for code outside this benchmark's reach (the token path).

    .venv/bin/python bench/run.py --experiment select-related,cached-keys

gunicorn then loads `bench.experiments:application`: the project's WSGI app after the
named patches are applied to the library in that process only. Nothing here is used by
make serve or the tests; each patch is what the real change would do, so its figures say
what the change is worth before anyone writes it.

- select-related: fetch a token's user and client with the token (one query, not three)
  on the refresh grant and at userinfo.
- cached-keys: sign with keys parsed and kept per process, without reading RSAKey on every
  refresh (the library reads the table each time; a rotation would then need a reload).
- es256: sign ID tokens with an ECDSA P-256 key (ES256) instead of RSA (RS256), to price
  the signature itself.
"""

import os

from cryptography.hazmat.primitives.asymmetric import ec
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def _select_related() -> None:
    from oidc_provider.lib.endpoints import token as token_endpoint
    from oidc_provider.lib.utils import oauth2
    from oidc_provider.models import Token

    class TokenWithUserAndClient:
        objects = Token.objects.select_related("user", "client")
        DoesNotExist = Token.DoesNotExist

    token_endpoint.Token = TokenWithUserAndClient
    oauth2.Token = TokenWithUserAndClient


def _cached_keys() -> None:
    from oidc_provider.lib.utils import token

    library = token.get_client_alg_keys
    kept: dict[str, list] = {}

    def get_client_alg_keys(client):
        if client.jwt_alg not in kept:
            kept[client.jwt_alg] = library(client)
        return kept[client.jwt_alg]

    token.get_client_alg_keys = get_client_alg_keys


def _es256() -> None:
    from oidc_provider.lib.utils import token

    key = ec.generate_private_key(ec.SECP256R1())
    keys = [
        {"key": key, "public_key": key.public_key(), "kid": "bench-es256", "algorithm": "ES256"}
    ]
    token.get_client_alg_keys = lambda client: keys


PATCHES = {"select-related": _select_related, "cached-keys": _cached_keys, "es256": _es256}

for name in filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")):
    PATCHES[name]()
