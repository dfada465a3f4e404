"""Measured suggestions for code outside this benchmark's reach (the token path).

    .venv/bin/python bench/run.py --experiment es256

granian then loads `bench.experiments:application`: the project's WSGI app after the
named patches are applied in that process only. Nothing here is used by make serve or the
tests; each patch is what the real change would do, so its figures say what the change is
worth before anyone writes it.

- es256: sign ID tokens with an ECDSA P-256 key (ES256) instead of RSA (RS256), to price
  the signature itself. (The former `cached-keys` is now what apps/idp/keys.py does.)
"""

import os

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from config.wsgi import application  # noqa: F401 (the app the server loads; sets Django up)


def _es256() -> None:
    from apps.idp import endpoints

    key = ec.generate_private_key(ec.SECP256R1())

    def sign_id_token(claims, oidc_client):
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench-es256"})

    endpoints.sign_id_token = sign_id_token


PATCHES = {"es256": _es256}

for name in filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")):
    PATCHES[name]()
