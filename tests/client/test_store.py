"""Where --remember keeps a grant: a private file (refused if not), or the OS keyring."""

import dataclasses
import os
import stat

import keyring.backends.chainer
import keyring.backends.fail
import pytest

from apps.client import oidc, store
from apps.client.dpop import DPoPKey
from apps.client.errors import ClientAbort
from apps.client.run import RunSettings, show_status
from apps.client.store import FileStore, KeyringStore, StoredGrant
from tests.client.terminals import RecordingTerminal

GRANT = StoredGrant(
    issuer="https://idp.example/oidc",
    client_id="cli-1",
    refresh_token="rt-secret-value",
    sub="42",
    user="alice",
    scope="openid offline_access",
    expires_at=2_000_000_000.0,
    saved_at=1_999_999_000.0,
)


def test_a_saved_grant_is_read_back_from_a_file_only_its_owner_can_read(tmp_path):
    path = tmp_path / "state" / "grants.json"
    FileStore(path).save(GRANT)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert FileStore(path).load(GRANT.issuer, GRANT.client_id) == GRANT
    assert FileStore(path).load(GRANT.issuer, "another-client") is None


def test_grants_of_other_clients_are_kept_apart_and_delete_removes_one(tmp_path):
    path = tmp_path / "grants.json"
    other = dataclasses.replace(GRANT, client_id="cli-2", refresh_token="rt-2")
    FileStore(path).save(GRANT)
    FileStore(path).save(other)
    assert FileStore(path).delete(GRANT.issuer, GRANT.client_id) is True
    assert FileStore(path).delete(GRANT.issuer, GRANT.client_id) is False
    assert FileStore(path).load(GRANT.issuer, GRANT.client_id) is None
    assert FileStore(path).load(other.issuer, "cli-2") == other


def test_a_store_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "grants.json"
    FileStore(path).save(GRANT)
    os.chmod(path, 0o644)
    with pytest.raises(ClientAbort, match=r"its mode is 0644, so others can read") as refused:
        FileStore(path).load(GRANT.issuer, GRANT.client_id)
    assert "chmod 600" in str(refused.value)
    assert "rt-secret" not in str(refused.value)


def test_a_store_file_of_another_user_is_refused(tmp_path):
    path = tmp_path / "grants.json"
    FileStore(path).save(GRANT)
    real = os.stat(path)

    def someone_elses(target):
        info = list(os.stat(target))
        info[stat.ST_UID] = real.st_uid + 1
        return os.stat_result(info)

    with pytest.raises(ClientAbort, match=r"belongs to uid \d+, not to you"):
        FileStore(path, stat_file=someone_elses).load(GRANT.issuer, GRANT.client_id)


def test_the_default_store_is_in_the_users_state_directory_never_the_project(tmp_path):
    assert store.default_state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "idp-demo"
    home_default = store.default_state_dir({})
    assert home_default.parts[-3:] == (".local", "state", "idp-demo")
    assert store.default_state_dir({"XDG_STATE_HOME": "relative"}) == home_default  # XDG spec


class MemoryKeyring:
    def __init__(self):
        self.secrets = {}

    def get_password(self, service, name):
        return self.secrets.get((service, name))

    def set_password(self, service, name, secret):
        self.secrets[(service, name)] = secret

    def delete_password(self, service, name):
        del self.secrets[(service, name)]


def test_no_usable_keyring_falls_back_to_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "default_store_path", lambda: tmp_path / "grants.json")
    for unusable in (
        None,
        keyring.backends.fail.Keyring(),
        keyring.backends.chainer.ChainerBackend(),  # no backends found on this machine
    ):
        opened = store.open_store(None, unusable)
        assert isinstance(opened, FileStore) and opened.path == tmp_path / "grants.json"


def test_a_usable_keyring_is_used_unless_a_store_file_is_given(tmp_path):
    backend = MemoryKeyring()
    opened = store.open_store(None, backend)
    assert isinstance(opened, KeyringStore)
    opened.save(GRANT)
    assert opened.load(GRANT.issuer, GRANT.client_id) == GRANT
    assert opened.delete(GRANT.issuer, GRANT.client_id) and not backend.secrets
    assert isinstance(store.open_store(tmp_path / "g.json", backend), FileStore)


def test_a_failing_keyring_says_how_to_do_without(tmp_path):
    class Locked(MemoryKeyring):
        def get_password(self, service, name):
            raise RuntimeError("the collection is locked")

    with pytest.raises(ClientAbort, match="pass --store PATH"):
        KeyringStore(Locked()).load(GRANT.issuer, GRANT.client_id)


# --- the DPoP key a grant is bound to (RFC 9449 §5): kept like the refresh token


def dpop_grant():
    key = DPoPKey.generate()
    return dataclasses.replace(GRANT, dpop_key=key.private_jwk()), key


def test_the_dpop_key_is_kept_in_the_private_file_and_never_in_repr(tmp_path):
    grant, key = dpop_grant()
    path = tmp_path / "grants.json"
    FileStore(path).save(grant)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert grant.dpop_key["d"] in path.read_text()  # the file is its protection, as for the token
    loaded = FileStore(path).load(GRANT.issuer, GRANT.client_id)
    assert loaded == grant
    assert grant.dpop_key["d"] not in repr(loaded) and "rt-secret" not in repr(loaded)


def test_a_store_file_others_can_read_is_refused_for_the_key_too(tmp_path):
    grant, _ = dpop_grant()
    path = tmp_path / "grants.json"
    FileStore(path).save(grant)
    os.chmod(path, 0o640)
    with pytest.raises(ClientAbort, match="DPoP key") as refused:
        FileStore(path).load(GRANT.issuer, GRANT.client_id)
    assert grant.dpop_key["d"] not in str(refused.value)


def test_the_dpop_key_goes_into_the_keyrings_secret(tmp_path):
    grant, _ = dpop_grant()
    backend = MemoryKeyring()
    KeyringStore(backend).save(grant)
    (((service, name), secret),) = backend.secrets.items()
    assert grant.dpop_key["d"] in secret and grant.dpop_key["d"] not in service + name
    assert KeyringStore(backend).load(GRANT.issuer, GRANT.client_id) == grant


def test_status_shows_the_keys_thumbprint_never_the_key(tmp_path):
    grant, key = dpop_grant()
    kept = FileStore(tmp_path / "grants.json")
    kept.save(grant)
    terminal = RecordingTerminal()
    settings = RunSettings(
        issuer=GRANT.issuer,
        rp=oidc.RelyingParty(client_id=GRANT.client_id, redirect_uri="https://rp.example/"),
        ca_file="ca.pem",
        interval=60.0,
        max_refreshes=None,
        action="status",
    )
    show_status(settings, kept, terminal, now=GRANT.saved_at)
    out = terminal.stdout_text()
    assert f"DPoP key, thumbprint {key.thumbprint} (private key kept, not shown)" in out
    assert grant.dpop_key["d"] not in out and grant.dpop_key["x"] not in out
    assert "rt-secret" not in out
