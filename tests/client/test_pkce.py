import re

from apps.client.pkce import make_verifier, s256_challenge


def test_s256_challenge_matches_rfc_7636_appendix_b():
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_verifier_is_43_to_128_unreserved_characters_and_fresh_each_time():
    verifiers = {make_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    for verifier in verifiers:
        assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)  # RFC 7636 §4.1
