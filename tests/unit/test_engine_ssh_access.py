"""`gates engine ssh`: the key and known hosts a runner needs to reach a remote engine."""

import stat

import pytest

from gates.engine import ssh_access
from gates.outcome import ConfigError

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----"
HOSTS = "manager.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
ENVIRON = {ssh_access.KEY_ENV: KEY, ssh_access.KNOWN_HOSTS_ENV: HOSTS}


def test_the_key_is_private_and_the_host_known(tmp_path):
    said = ssh_access.install(ENVIRON, tmp_path)
    key = tmp_path / ".ssh" / "id_ed25519"
    assert key.read_text() == KEY + "\n"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / ".ssh" / "known_hosts").read_text() == HOSTS + "\n"
    assert "1 known host line(s) added" in said
    assert "0 known host line(s) added" in ssh_access.install(ENVIRON, tmp_path)  # idempotent


@pytest.mark.parametrize(
    "environ, message",
    [
        ({}, "ENGINE_SSH_KEY is empty"),
        ({ssh_access.KEY_ENV: KEY}, "ENGINE_SSH_KNOWN_HOSTS is empty"),
        ({**ENVIRON, ssh_access.KEY_ENV: "hunter2"}, "holds no private key"),
    ],
)
def test_missing_or_wrong_inputs_are_refused(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        ssh_access.install(environ, tmp_path)
    assert not (tmp_path / ".ssh" / "id_ed25519").exists()


def test_another_key_is_never_overwritten(tmp_path):
    (tmp_path / ".ssh").mkdir()
    (tmp_path / ".ssh" / "id_ed25519").write_text("someone else's key\n")
    with pytest.raises(ConfigError, match="holds another key"):
        ssh_access.install(ENVIRON, tmp_path)
    assert (tmp_path / ".ssh" / "id_ed25519").read_text() == "someone else's key\n"
