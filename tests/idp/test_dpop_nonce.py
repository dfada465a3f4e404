"""apps.idp.dpop_nonce: server nonces (RFC 9449 §8) any instance checks without shared state."""

from apps.idp import dpop_nonce
from apps.idp.errors import InvalidDPoPProof, dpop_challenge

KEY = b"the SECRET_KEY every instance has"
WINDOW = dpop_nonce.WINDOW_SECONDS


def test_another_instance_with_the_key_accepts_the_nonce_until_the_next_window_ends():
    handed_out = dpop_nonce.current_nonce(KEY, 1000.0)
    assert handed_out in dpop_nonce.accepted_nonces(KEY, 1000.0)
    assert handed_out in dpop_nonce.accepted_nonces(KEY, 1000.0 + WINDOW)  # a late retry
    assert handed_out not in dpop_nonce.accepted_nonces(KEY, 1000.0 + 2 * WINDOW)


def test_a_nonce_made_with_another_key_is_not_accepted():
    assert dpop_nonce.current_nonce(b"another key", 1000.0) not in dpop_nonce.accepted_nonces(
        KEY, 1000.0
    )


def test_each_window_has_its_own_nonce_fit_for_a_header():
    nonces = {dpop_nonce.current_nonce(KEY, window * WINDOW) for window in range(50)}
    assert len(nonces) == 50
    assert all(len(nonce) == 32 and nonce.isascii() and nonce.isprintable() for nonce in nonces)


def test_the_dpop_challenge_quotes_only_safe_characters():
    error = InvalidDPoPProof("alg 'a\"b\\\\c\u00e9' is not accepted")
    challenge = dpop_challenge(error, ("ES256", "EdDSA"))
    description = challenge.split('error_description="', 1)[1].split('"', 1)[0]
    assert description == "alg 'a?b??c?' is not accepted"
    assert challenge.endswith('algs="ES256 EdDSA"')
