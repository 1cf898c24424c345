"""The namespaced swarm's pure parts (gates.engine.nodes) and the registry client's trust of a
private registry's own CA (gates.registry.docker_trust); the nodes themselves are e2e."""

import ssl
import subprocess
import tomllib

import pytest

from gates.engine import nodes
from gates.outcome import ConfigError
from gates.registry import docker_trust


def test_node_k_has_its_namespace_veth_and_address_in_the_range_only_the_nodes_use():
    second = nodes.Node(2)
    assert (second.name, second.veth, second.address) == ("gates-n2", "gates-v2", "10.231.0.3")
    assert nodes.MANAGER.address == "10.231.0.2" and nodes.HOST_ADDRESS == "10.231.0.1"
    assert second.inside("dockerd")[:2] == ["nsenter", "--net=/run/netns/gates-n2"]
    assert second.docker_host == "unix:///run/gates-nodes/n2/docker.sock"


@pytest.mark.parametrize("count", [0, -1, nodes.MAX_NODES + 1])
def test_a_swarm_of_no_nodes_or_too_many_is_a_usage_error(count):
    with pytest.raises(ConfigError, match=f"--nodes {count}"):
        nodes.nodes(count)


def test_images_keep_their_path_under_the_nodes_registry():
    assert nodes.seeded("127.0.0.1:15000/gates-haproxy:2.6") == "10.231.0.2:5000/gates-haproxy:2.6"
    assert nodes.seeded("gates-prometheus:2.42") == "10.231.0.2:5000/gates-prometheus:2.42"
    assert nodes.seeded("library/x:1") == "10.231.0.2:5000/library/x:1"


def test_a_missing_program_is_named_with_its_debian_package(monkeypatch):
    absent = {"sshd", "htpasswd"}
    monkeypatch.setattr(nodes.shutil, "which", lambda name: None if name in absent else name)
    line = nodes.missing().describe()
    assert "sshd (package openssh-server)" in line
    assert "htpasswd (package apache2-utils)" in line
    assert "apt-get install -y openssh-server apache2-utils" in line
    assert "\n" not in line


def test_the_sshd_config_points_the_deploy_users_docker_at_its_nodes_socket():
    text = nodes.SSHD_CONFIG.format(address="10.231.0.2", host_key="/k", authorized_keys="/a",
                                    user="deploy", docker_host="unix:///s")  # fmt: skip
    assert "SetEnv DOCKER_HOST=unix:///s" in text
    assert "PasswordAuthentication no" in text and "AllowUsers deploy" in text


def test_the_registry_client_trusts_a_registrys_own_ca_where_docker_looks_for_it(tmp_path):
    directory = tmp_path / "10.231.0.2:5000"
    directory.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=test CA", "-keyout", str(tmp_path / "ca.key"), "-out",
                    str(directory / "ca.crt")], check=True, capture_output=True)  # fmt: skip
    trusted = docker_trust("10.231.0.2:5000", certs_d=tmp_path)
    assert any(
        dict(part[0] for part in cert["subject"]).get("commonName") == "test CA"
        for cert in trusted.get_ca_certs()
    )
    # Another registry, or none configured there: the system's CAs only, no error.
    assert isinstance(docker_trust("example.org", certs_d=tmp_path), ssl.SSLContext)
    # A CA file that is not one fails loudly rather than trusting nothing.
    (directory / "ca.crt").write_text("not a certificate\n")
    with pytest.raises(ssl.SSLError):
        docker_trust("10.231.0.2:5000", certs_d=tmp_path)


def test_pipeline_targets_it_gives_places_the_environments_and_images_on_the_node():
    parsed = tomllib.loads(nodes.pipeline_targets("10.231.0.2:5000/e:1", "10.231.0.2:5000/p:2"))
    assert parsed == {
        "engine": {
            "registry": "10.231.0.2:5000",
            "edge_image": "10.231.0.2:5000/e:1",
            "prometheus_image": "10.231.0.2:5000/p:2",
        },
        "environments": {
            "staging": {"target": "swarm", "url": "http://10.231.0.2:8101"},
            "production": {"target": "swarm", "url": "http://10.231.0.2:8102"},
        },
    }
