"""Measured suggestions for code outside this benchmark's reach (the token path).

    .venv/bin/python bench/run.py --experiment cached-keys,es256

gunicorn then loads `bench.experiments:application`: the project's WSGI app after the
named patches are applied to the library in that process only. Nothing here is used by
make serve or the tests; each patch is what the real change would do, so its figures say
what the change is worth before anyone writes it.

- cached-keys: sign with keys parsed and kept per process, without reading RSAKey on every
  refresh (the library's encode_id_token reads the table each time; a rotation would then
  need a reload or a time limit).
- es256: sign ID tokens with an ECDSA P-256 key (ES256) instead of RSA (RS256), to price
  the signature itself.
"""

import os

from cryptography.hazmat.primitives.asymmetric import ec
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


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


PATCHES = {"cached-keys": _cached_keys, "es256": _es256}

for name in filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")):
    PATCHES[name]()
