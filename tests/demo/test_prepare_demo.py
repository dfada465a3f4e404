import functools
import socket
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from oidc_provider.models import Client as OIDCClient
from oidc_provider.models import RSAKey

from apps.demo import hosts


@pytest.fixture
def demo_files(settings, tmp_path, monkeypatch):
    """Point every file prepare_demo writes at a temporary folder."""
    settings.CERTS_DIR = tmp_path / "certs"
    settings.VAR_DIR = tmp_path / "var"
    settings.PKCE_CLIENT_ID_FILE = tmp_path / "var" / "pkce_client_id"
    settings.RESOURCE_SERVER_SECRET_FILE = tmp_path / "var" / "resource_server_secret"
    hosts_file = tmp_path / "hosts"
    hosts_file.write_text("127.0.0.1 localhost\n")
    monkeypatch.setattr(hosts, "HOSTS_FILE", hosts_file)
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def names_resolve(monkeypatch):
    monkeypatch.setattr(hosts, "resolves_to_loopback", lambda name: True)


@pytest.fixture
def names_do_not_resolve(monkeypatch):
    monkeypatch.setattr(hosts, "resolves_to_loopback", lambda name: False)


def prepare() -> str:
    out = StringIO()
    call_command("prepare_demo", stdout=out)
    return out.getvalue()


def test_prepare_demo_sets_up_everything_and_says_what_next(db, demo_files, names_resolve):
    output = prepare()
    client_id = (demo_files / "var" / "pkce_client_id").read_text().strip()
    password = (demo_files / "var" / "demo-password").read_text().strip()
    assert (demo_files / "certs" / "ca.pem").exists()
    assert RSAKey.objects.count() == 1
    assert OIDCClient.objects.get(client_id=client_id).client_type == "public"
    assert get_user_model().objects.get(username="demo").check_password(password)
    assert f"demo / {password}" in output
    assert f"Client id      {client_id}" in output
    assert "/admin/" in output
    assert "make client" in output
    assert str(demo_files / "certs" / "ca.pem") in output


def test_prepare_demo_twice_changes_nothing(db, demo_files, names_resolve):
    prepare()
    ca = (demo_files / "certs" / "ca.pem").read_bytes()
    client_id = (demo_files / "var" / "pkce_client_id").read_text()
    prepare()
    assert (demo_files / "certs" / "ca.pem").read_bytes() == ca
    assert (demo_files / "var" / "pkce_client_id").read_text() == client_id
    assert OIDCClient.objects.count() == 2  # the public client and the resource server
    assert RSAKey.objects.count() == 1
    assert get_user_model().objects.count() == 1


def test_prepare_demo_keeps_a_password_set_by_hand(db, demo_files, names_resolve):
    prepare()
    user = get_user_model().objects.get(username="demo")
    user.set_password("chosen by hand")
    user.save()
    output = prepare()
    user.refresh_from_db()
    assert user.check_password("chosen by hand")
    assert "unchanged" in output


def test_prepare_demo_honours_superuser_variables(db, demo_files, names_resolve, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long passphrase here")
    output = prepare()
    assert get_user_model().objects.get(username="ops").check_password("a long passphrase here")
    assert "ops / a long passphrase here" in output


def test_prepare_demo_adds_the_host_names_when_it_can(db, demo_files, names_do_not_resolve):
    output = prepare()
    hosts_text = Path(hosts.HOSTS_FILE).read_text()
    assert "127.0.0.1 localhost\n" in hosts_text  # what was there is kept
    assert "127.0.0.1 idp.local mysrv.local" in hosts_text
    assert "Added to" in output


def test_prepare_demo_explains_the_hosts_line_when_it_cannot_write(
    db, demo_files, names_do_not_resolve, monkeypatch
):
    monkeypatch.setattr(hosts, "add_to_hosts_file", lambda names: False)
    with pytest.raises(CommandError) as refused:
        prepare()
    message = str(refused.value)
    assert "127.0.0.1 idp.local mysrv.local" in message
    assert "OIDC_SITE_URL=https://localhost:8443" in message
    assert "RECEIVER_URL=https://127.0.0.1:8444/" in message


def test_unresolved_skips_ip_literals(monkeypatch):
    monkeypatch.setattr(hosts, "resolves_to_loopback", lambda name: False)
    assert hosts.unresolved(["127.0.0.1", "::1", "idp.local"]) == ["idp.local"]


def resolver(*addresses: str):
    """A getaddrinfo that answers `addresses` for every name, or fails as for an unknown one."""

    def getaddrinfo(host, port):
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, 0)) for address in addresses]

    return getaddrinfo


@pytest.mark.parametrize(
    ("addresses", "loopback"),
    [
        (("127.0.0.1",), True),
        (("127.0.1.1", "::1"), True),
        (("127.0.0.1", "192.0.2.7"), False),  # one answer elsewhere: a browser may pick it
        (("192.0.2.7",), False),
        ((), False),  # the name is unknown
    ],
)
def test_a_name_counts_as_local_only_when_every_address_is_loopback(addresses, loopback):
    assert hosts.resolves_to_loopback("idp.local", getaddrinfo=resolver(*addresses)) is loopback


def test_prepare_demo_adds_a_name_that_resolves_to_another_machine(db, demo_files, monkeypatch):
    elsewhere = functools.partial(hosts.resolves_to_loopback, getaddrinfo=resolver("192.0.2.7"))
    monkeypatch.setattr(hosts, "resolves_to_loopback", elsewhere)
    output = prepare()
    assert "127.0.0.1 idp.local mysrv.local" in Path(hosts.HOSTS_FILE).read_text()
    assert "Added to" in output


def test_prepare_demo_leaves_the_hosts_file_alone_when_the_names_are_local(
    db, demo_files, monkeypatch
):
    here = functools.partial(hosts.resolves_to_loopback, getaddrinfo=resolver("127.0.0.1"))
    monkeypatch.setattr(hosts, "resolves_to_loopback", here)
    output = prepare()
    assert Path(hosts.HOSTS_FILE).read_text() == "127.0.0.1 localhost\n"
    assert "Added to" not in output


def test_prepare_demo_seeds_the_resource_server_with_a_private_secret(
    db, demo_files, names_resolve, settings
):
    prepare()
    secret_file = demo_files / "var" / "resource_server_secret"
    client_id = (demo_files / "var" / "pkce_client_id").read_text().strip()
    resource_server = OIDCClient.objects.get(client_id=settings.RESOURCE_SERVER_CLIENT_ID)
    assert resource_server.client_type == "confidential"
    assert resource_server.client_secret == secret_file.read_text().strip()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert client_id in resource_server.scope  # it may introspect the seed client's tokens
    prepare()
    assert (
        OIDCClient.objects.get(pk=resource_server.pk).client_secret == resource_server.client_secret
    )
