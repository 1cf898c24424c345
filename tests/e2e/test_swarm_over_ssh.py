"""The ssh:// path end to end: a swarm environment deployed, by digest, from a registry with TLS
and credentials, through ``DOCKER_HOST=ssh://deploy@10.231.0.2``: the namespaced swarm
``gates engine up --nodes 1`` makes (gates.engine.nodes), reached exactly as a GitHub deploy
job reaches the persistent swarm (docs/ci.md).

The job's side: a home of its own where ``gates engine ssh`` installs the key and the known
hosts from what the environment is given and ``gates engine login`` the registry's credentials,
DOCKER_HOST=ssh://..., and the environments' "where" from PIPELINE_TARGETS. Without the node the
test is skipped saying what to run; with ``CI`` set it fails instead.
"""

import re
import secrets

import pytest

from deploy_fixture import clone, no_container_engine
from gates.engine import nodes
from gates.targets import probe
from support.ports import free_port
from support.ssh_node import SshNode, ssh_node
from support.swarm import SWARM_ENVIRONMENT, release_image, with_image
from support.timeouts import HANG


@pytest.fixture
def node(tmp_path):
    return ssh_node(tmp_path / "home")


def over_ssh(directory, shared, prefix, images, *names):
    """A clone whose staging and production are swarm environments at the test's pace (names
    under ``prefix``), holding the named releases with their images in the node's registry.
    Where they live comes from the deploy job's environment (``targets``), as on GitHub."""
    checkout = clone(directory)
    pyproject = checkout.path / "pyproject.toml"
    text = no_container_engine(pyproject.read_text())
    for name in ("staging", "production"):
        table = SWARM_ENVIRONMENT.format(name=name, port=free_port(), prefix=prefix)
        text = re.sub(rf"\[tool\.pipeline\.environments\.{name}\]\n", table, text)
    text = text.replace("duration = 10", "duration = 3").replace("p95_ms = 200", "p95_ms = 5000")
    text = text.replace("regression_min_ms = 0.5", "regression_min_ms = 1000.0")
    text = text.replace("max_late_ratio = 0.01", "max_late_ratio = 0.5")
    pyproject.write_text(text)
    if names:
        shared.copy_into(checkout, *names)
        for name in names:
            with_image(checkout, name, images[name])
    return checkout


def targets(node: SshNode, prefix: str, port: int) -> str:
    """PIPELINE_TARGETS: the node's registry and images (what `up --nodes` gives), staging on
    the manager's address at ``port`` under the test's own stack name."""
    engine = node.targets["engine"]
    assert isinstance(engine, dict)
    lines = ["[engine]", *(f'{key} = "{value}"' for key, value in engine.items())]
    lines += [
        "[environments.staging]",
        'target = "swarm"',
        f'url = "http://{nodes.MANAGER.address}:{port}"',
        f'stack = "{prefix}-staging"',
    ]
    return "\n".join(lines) + "\n"  # fmt: skip


def serving(url):
    return probe.get("/ready", port=url, timeout=HANG).release


def test_a_release_reaches_the_swarm_over_ssh_by_digest_and_rolls_back(
    tmp_path, shared_releases, node
):
    prefix = f"gates-t{secrets.token_hex(4)}"
    port = free_port()
    images = {}
    for name in ("A", "B"):
        local = release_image(shared_releases, name)
        rid = shared_releases.release_dir(name).name
        images[name] = node.push(local["reference"], f"gates-e2e/techcorp-api:{rid}")
    checkout = over_ssh(tmp_path / "clone", shared_releases, prefix, images, "A", "B")
    a, b = checkout.releases["A"], checkout.releases["B"]
    env = {**node.env, "PIPELINE_TARGETS": targets(node, prefix, port)}
    stack = f"{prefix}-staging"
    url = f"http://{nodes.MANAGER.address}:{port}"
    try:
        installed = checkout.gates("engine", "ssh", env={**env, **node.key_env})
        assert "ssh key installed" in installed.stdout
        assert "logged in to 10.231.0.2:5000" in checkout.gates("engine", "login", env=env).stdout

        checkout.gates("deploy", "--environment", "staging", "--release", a, env=env)
        assert serving(url) == a
        checkout.gates("deploy", "--environment", "staging", "--release", b, env=env)
        assert serving(url) == b
        spec = "{{.Spec.TaskTemplate.ContainerSpec.Image}}"
        running = node.docker("service", "inspect", "--format", spec, stack).strip()
        assert running == images["B"]["reference"], running  # by digest, from the node's registry

        done = checkout.gates(
            "rollback", "--environment", "staging", "--reason", "ssh drill", env=env
        )
        assert f"staging: {b} -> {a}" in done.stdout, done.stdout
        assert serving(url) == a

        # A fresh runner (empty state directory) reads the history from the engine over ssh.
        fresh = over_ssh(tmp_path / "fresh", shared_releases, prefix, images)
        status = fresh.gates("status", env=env).stdout
        assert re.search(rf"staging +http\S+ +{a}", status), status
        configs = node.docker("config", "ls", "--format", "{{.Name}}").split()
        assert any(name.startswith(f"gates.{stack}") for name in configs), configs
    finally:
        checkout.gates("down", "--environment", "staging", env=env, check=False)
        node.remove_under(prefix)
