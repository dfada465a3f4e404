"""Where `--remember` keeps a grant between runs: the OS keyring, or a file only we can read.

One grant per (issuer, client id). The keyring is used where a usable backend exists; else a
JSON file of mode 0600 in a per-user state directory, refused if others can read it or if it
is not ours. What is kept is the refresh token, the private DPoP key it is bound to (if any),
and what `--status` shows about them.
"""

import json
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apps.client.errors import ClientAbort

KEYRING_SERVICE = "idp-demo pkce_client"
STORE_FILE_NAME = "grants.json"


@dataclass(frozen=True)
class StoredGrant:
    """A grant kept for a later run. `expires_at`: the last access token's, epoch seconds."""

    issuer: str
    client_id: str
    refresh_token: str = field(repr=False)
    sub: str
    user: str = ""
    scope: str = ""
    expires_at: float | None = None
    saved_at: float = 0.0
    nonce: str = ""  # the first sign-in's: refreshed ID tokens may repeat it (OIDC Core 12.2)
    # The private JWK the refresh token is bound to (RFC 9449 §5): as secret as the token,
    # since it is what makes a copied token useless without it. None: a Bearer grant.
    dpop_key: dict[str, str] | None = field(repr=False, default=None)

    @classmethod
    def from_json(cls, data: Any) -> "StoredGrant":
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def key_of(issuer: str, client_id: str) -> str:
    return f"{issuer} {client_id}"


@dataclass(frozen=True)
class StoredRegistration:
    """This client's own registration at an IdP (RFC 7591), kept to be used again, with
    the token that reads or deletes it (RFC 7592)."""

    issuer: str
    client_id: str
    registration_client_uri: str
    registration_access_token: str = field(repr=False)

    @classmethod
    def from_json(cls, data: Any) -> "StoredRegistration":
        if not isinstance(data, dict):
            raise ValueError("not an object")
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def registration_key(issuer: str) -> str:
    return f"registration {issuer}"  # never a grant's key: those start with the issuer


class GrantStore(Protocol):
    where: str  # for messages: "the OS keyring (...)" or the file's path

    def load(self, issuer: str, client_id: str) -> StoredGrant | None: ...
    def save(self, grant: StoredGrant) -> None: ...
    def delete(self, issuer: str, client_id: str) -> bool: ...


def default_state_dir(environ: dict[str, str] | None = None) -> Path:
    """$XDG_STATE_HOME/idp-demo, else ~/.local/state/idp-demo (XDG Base Directory spec)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "idp-demo"


def default_store_path() -> Path:
    return default_state_dir() / STORE_FILE_NAME


class FileStore:
    """A JSON file of grants, mode 0600 in a 0700 directory; read only if ours and private."""

    def __init__(
        self,
        path: Path,
        *,
        stat_file: Callable[[Path], os.stat_result] = os.stat,
        uid: Callable[[], int] = os.getuid,
    ) -> None:
        self.path = Path(path)
        self.where = str(self.path)
        self._stat = stat_file
        self._uid = uid

    def _check_ours(self) -> None:
        info = self._stat(self.path)
        if info.st_uid != self._uid():
            raise ClientAbort(
                f"Refusing the store {self.path}: it belongs to uid {info.st_uid}, not to you "
                f"(uid {self._uid()}). Someone else may have planted it: delete it, or pass "
                "another --store."
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise ClientAbort(
                f"Refusing the store {self.path}: its mode is "
                f"{stat.S_IMODE(info.st_mode):04o}, so others can read or change the refresh "
                "token (and DPoP key) in it. If that is fine by you: "
                f"`chmod 600 {self.path}`, or delete it "
                "(and the grant it holds may need revoking: sign in and use --logout)."
            )

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        self._check_ours()
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ClientAbort(f"Cannot read the store {self.path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole to a private temporary file, then renamed: never half-written or 0644.
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".grants-")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(data, out, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, issuer: str, client_id: str) -> StoredGrant | None:
        found = self._read().get(key_of(issuer, client_id))
        try:
            return StoredGrant.from_json(found) if found is not None else None
        except (TypeError, ValueError, KeyError):
            return None

    def save(self, grant: StoredGrant) -> None:
        data = self._read()
        data[key_of(grant.issuer, grant.client_id)] = asdict(grant)
        self._write(data)

    def delete(self, issuer: str, client_id: str) -> bool:
        data = self._read()
        if data.pop(key_of(issuer, client_id), None) is None:
            return False
        self._write(data)
        return True

    def load_registration(self, issuer: str) -> StoredRegistration | None:
        found = self._read().get(registration_key(issuer))
        try:
            return StoredRegistration.from_json(found) if found is not None else None
        except (TypeError, ValueError, KeyError):
            return None

    def save_registration(self, registration: StoredRegistration) -> None:
        data = self._read()
        data[registration_key(registration.issuer)] = asdict(registration)
        self._write(data)

    def delete_registration(self, issuer: str) -> None:
        data = self._read()
        if data.pop(registration_key(issuer), None) is not None:
            self._write(data)


class KeyringStore:
    """One keyring entry per (issuer, client id), its secret the grant as JSON."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.where = f"the OS keyring ({type(backend).__name__})"

    def _call(self, name: str, *args: str) -> Any:
        try:
            return getattr(self.backend, name)(KEYRING_SERVICE, *args)
        except Exception as exc:  # keyring's errors vary by backend: locked, no D-Bus, ...
            raise ClientAbort(
                f"The OS keyring failed ({type(exc).__name__}: {exc}). Unlock it, or pass "
                "--store PATH to keep the sign-in in a private file instead."
            ) from exc

    def load(self, issuer: str, client_id: str) -> StoredGrant | None:
        text = self._call("get_password", key_of(issuer, client_id))
        if not text:
            return None
        try:
            return StoredGrant.from_json(json.loads(text))
        except (TypeError, ValueError, KeyError):
            return None

    def save(self, grant: StoredGrant) -> None:
        key = key_of(grant.issuer, grant.client_id)
        self._call("set_password", key, json.dumps(asdict(grant)))

    def delete(self, issuer: str, client_id: str) -> bool:
        key = key_of(issuer, client_id)
        if self._call("get_password", key) is None:
            return False
        self._call("delete_password", key)
        return True

    def load_registration(self, issuer: str) -> StoredRegistration | None:
        text = self._call("get_password", registration_key(issuer))
        try:
            return StoredRegistration.from_json(json.loads(text)) if text else None
        except (TypeError, ValueError, KeyError):
            return None

    def save_registration(self, registration: StoredRegistration) -> None:
        key = registration_key(registration.issuer)
        self._call("set_password", key, json.dumps(asdict(registration)))

    def delete_registration(self, issuer: str) -> None:
        if self._call("get_password", registration_key(issuer)) is not None:
            self._call("delete_password", registration_key(issuer))


def usable_keyring(backend: Any) -> bool:
    """False for keyring's "no backend" stand-ins: fail.Keyring, or a chainer of nothing."""
    if backend is None:
        return False
    kind = f"{type(backend).__module__}.{type(backend).__name__}"
    if kind == "keyring.backends.fail.Keyring":
        return False
    if kind == "keyring.backends.chainer.ChainerBackend":
        return bool(getattr(backend, "backends", ()))
    return True


def open_store(path: Path | None, keyring_backend: Any) -> GrantStore:
    """An explicit --store file; else the keyring where one is usable; else the default file."""
    if path is not None:
        return FileStore(path)
    if usable_keyring(keyring_backend):
        return KeyringStore(keyring_backend)
    return FileStore(default_store_path())
