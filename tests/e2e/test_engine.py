"""Engine-backed: `gates engine` on a running engine, and the release image by digest.

These run against the engine `gates engine up` made (the ``engine`` fixture: skipped when
there is none, failing when $CI is set). They share it with others: whatever they create is
named ``gates-t<random>...`` and removed by that name; the engine itself is never stopped.
"""

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests

from deploy_fixture import Checkout, clone, with_container_engine
from gates.config import load_config
from gates.engine import mounts
from gates.engine.record import Record
from gates.outcome import COULD_NOT_MEASURE, FAILED, MeasurementError
from gates.registry import Registry
from gates.release.image import ImageRefused, build_release_image, verify_image
from gates.report import Report
from support.engine import unique_name
from support.gates_cli import run_gates
from support.pipeline_project import make_project
from support.ports import free_port
from support.timeouts import HANG, START_TIMEOUT


def project_on(engine, tmp_path):
    path = make_project(tmp_path / "project")
    path.write_text(path.read_text() + engine.toml())
    return path


@pytest.fixture
def foreign_socket(engine):
    """The shared engine reached through a socket path of this test's own: a runtime
    directory holding no record of `up`, so to `gates engine` it is an engine that was
    running before and that `up` did not start, however the shared one was started (by
    `.ci/run`'s `up` in CI, by hand on a laptop)."""
    if not engine.docker_host.startswith("unix://"):
        pytest.skip(f"needs an engine on a unix socket, not {engine.docker_host}")
    directory = Path(tempfile.mkdtemp(prefix="gates-t", dir="/tmp"))  # short: sockets <108 chars
    socket = directory / "docker.sock"
    socket.symlink_to(engine.docker_host.removeprefix("unix://"))
    yield f"unix://{socket}"
    shutil.rmtree(directory)


def test_up_on_a_running_engine_changes_nothing_and_down_leaves_it_running(
    engine, foreign_socket, tmp_path
):
    config = project_on(engine, tmp_path)
    config.write_text(config.read_text().replace(engine.docker_host, foreign_socket))
    env = {"DOCKER_HOST": foreign_socket}
    record = load_config(config, environ=env).engine
    assert record.docker_host == foreign_socket
    shared_record = Path(engine.docker_host.removeprefix("unix://")).parent / "gates-engine.json"
    shared_before = shared_record.read_bytes() if shared_record.exists() else None
    swarm_before = engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()

    up = run_gates(config, "engine", "up", env=env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "not started by `up`" in up.stdout and re.search(r"up in \d+\.\d s", up.stdout)
    assert "starting" not in up.stdout and "building" not in up.stdout
    again = run_gates(config, "engine", "up", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    runtime_dir = Path(record.docker_host.removeprefix("unix://")).parent
    assert not (runtime_dir / "gates-engine.json").exists()  # it started nothing

    down = run_gates(config, "engine", "down", env=env)
    assert down.returncode == 0 and "nothing to stop" in down.stdout
    status = run_gates(config, "engine", "status", env=env)
    assert status.returncode == 0, status.stdout
    # the same engine, the same swarm node: nothing was stopped or left
    assert engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip() == swarm_before
    assert engine.registry.answers() is None
    assert (shared_record.read_bytes() if shared_record.exists() else None) == shared_before


@dataclass
class ImageBuild:
    checkout: Checkout
    registry: Registry  # a namespace of the engine's registry, this test's own
    pushed: list[tuple[str, str]] = field(default_factory=list)  # (repository, digest)


@pytest.fixture
def image_build(engine, tmp_path):
    """A clone of HEAD whose images go to a registry namespace of its own; afterwards the
    manifests it pushed are deleted from the registry and its local tags removed."""
    namespace = f"{engine.config.registry}/{unique_name()}"
    checkout = clone(tmp_path / "repo")
    pyproject = checkout.path / "pyproject.toml"
    text = with_container_engine(pyproject.read_text(), "docker")
    text = re.sub(r'^registry = ".*"$', f'registry = "{namespace}"', text, flags=re.M)
    text = re.sub(
        r'^docker_host = ".*"$', f'docker_host = "{engine.docker_host}"', text, flags=re.M
    )
    pyproject.write_text(text)
    build = ImageBuild(checkout, Registry.parse(namespace))
    yield build
    for repository, digest in build.pushed:
        build.registry.delete_manifest(repository, digest)
    listed = engine.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    for reference in listed.stdout.split():
        if reference.startswith(namespace + "/"):
            engine.docker("image", "rm", "--force", reference, check=False)


def test_the_release_image_is_built_on_the_base_pushed_and_known_by_digest(
    engine, image_build, tmp_path
):
    checkout, registry = image_build.checkout, image_build.registry
    started = time.monotonic()
    checkout.gates("build")
    seconds = time.monotonic() - started
    report = checkout.report("build")
    manifest = report["details"]["manifest"]
    image = manifest["image"]
    assert image["built"] and image["base"] == "gates-base:bookworm", image
    repository = registry.repository("techcorp-api")
    image_build.pushed.append((repository, image["digest"]))
    assert image["reference"] == f"{registry.address}/techcorp-api@{image['digest']}"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image["digest"])
    assert registry.manifest_digest(repository, image["digest"]) == image["digest"]
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["container image"]["passed"] and checks["container image"]["measured"] == (
        image["reference"]
    )
    print(f"build with image build and push: {seconds:.1f} s")

    config = load_config(checkout.path / "pyproject.toml", environ={})
    assert verify_image(config, manifest) == image["reference"]

    # The image serves from the debootstrap base: venv, non-root user, gunicorn.
    port, name = free_port(), unique_name("api")
    engine.docker(
        "run", "--detach", "--name", name, "--network", "host",
        "--env", f"BIND=127.0.0.1:{port}", image["reference"],
    )  # fmt: skip
    try:
        deadline, answer = time.monotonic() + START_TIMEOUT, None
        while time.monotonic() < deadline and answer is None:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=HANG)
            except requests.RequestException:
                time.sleep(0.5)
        assert answer is not None and answer.status_code == 200
        user = engine.docker("exec", name, "id", "-u").stdout.strip()
        assert user == "10001"
    finally:
        engine.docker("rm", "--force", name, check=False)


def refused(config, manifest, image):
    with pytest.raises(ImageRefused) as raised:
        verify_image(config, {**manifest, "image": image})
    assert raised.value.exit_code == FAILED
    return str(raised.value)


def test_an_image_that_does_not_match_the_manifest_is_refused(engine, tmp_path):
    """A tiny image pushed to a namespace of its own stands in for a release's image."""
    namespace = f"{engine.config.registry}/{unique_name()}"
    registry = Registry.parse(namespace)
    tag = registry.reference("probe", "1")
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {engine.config.base_image}\nLABEL probe=1\n")
    engine.docker("build", "--tag", tag, str(context))
    digest = None
    try:
        engine.docker("push", tag)
        digest = registry.manifest_digest(registry.repository("probe"), "1")
        assert digest is not None
        reference = registry.reference("probe", digest)
        config = load_config(project_on(engine, tmp_path), environ={})
        manifest = {"release_id": "r1", "image": {"reference": reference, "digest": digest}}
        assert verify_image(config, manifest) == reference

        other = "sha256:" + "0" * 64
        message = refused(config, manifest, {"reference": reference, "digest": other})
        assert message.startswith("image digest does not match the manifest")
        absent = registry.reference("probe", other)
        assert "is not in the registry" in refused(
            config, manifest, {"reference": absent, "digest": other}
        )
        mutable = {"reference": tag, "digest": digest}
        assert "does not match the manifest" in refused(config, manifest, mutable)
        elsewhere = {"reference": f"evil.example/probe@{digest}", "digest": digest}
        assert "not in the configured registry" in refused(config, manifest, elsewhere)
        assert "has no image in a registry" in refused(config, manifest, {"built": False})
    finally:
        if digest:
            registry.delete_manifest(registry.repository("probe"), digest)
        engine.docker("image", "rm", "--force", tag, check=False)
    assert registry.manifest_digest(registry.repository("probe"), digest) is None


def test_a_registry_that_does_not_answer_stops_the_image_build_with_exit_3(engine, tmp_path):
    path = make_project(tmp_path / "project")
    dead = f"127.0.0.1:{free_port()}"
    path.write_text(
        path.read_text()
        + engine.toml().replace(f'registry = "{engine.config.registry}"', f'registry = "{dead}"')
        + '[tool.pipeline.build]\ncontainer_engine = "docker"\n'
    )
    config = load_config(path, environ={})
    with pytest.raises(MeasurementError) as raised:
        build_release_image(config, tmp_path, "0123", 60, Report("build"))
    assert raised.value.exit_code == COULD_NOT_MEASURE
    assert str(raised.value).startswith(f"the image registry {dead} does not answer")


STAND_IN_DEBOOTSTRAP = """#!/bin/sh
# debootstrap's stand-in: the files of the running engine's base image (the real one takes a
# minute or more, and is timed by benchmarks/engine_setup.py). Called as debootstrap
# --variant=.. --include=.. --components=.. SUITE ROOT MIRROR.
set -e
mkdir -p "$5"
export DOCKER_HOST="$SOURCE_ENGINE"
docker create --name "$EXPORT_NAME" "$SOURCE_IMAGE" /bin/true >/dev/null
docker export "$EXPORT_NAME" | tar -x -C "$5"
docker rm "$EXPORT_NAME" >/dev/null
echo "I: Base system installed successfully."
"""
NOTHING = "#!/bin/sh\nexit 0\n"  # chroot's stand-in: no upgrade of the stand-in rootfs


@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_up_starts_a_second_engine_and_down_stops_exactly_it(engine, tmp_path):
    """A new engine beside the running one: up starts dockerd and a registry, makes both
    images and pushes the edge; down stops both by pid and leaves the other engine alone.
    debootstrap and chroot are stand-ins; dockerd, the registry, import, build and push are
    real."""
    short = Path(tempfile.mkdtemp(prefix="gates-t", dir="/tmp"))  # sockets: <= 107 bytes
    stand_ins = tmp_path / "bin"
    stand_ins.mkdir()
    for name, script in (("debootstrap", STAND_IN_DEBOOTSTRAP), ("chroot", NOTHING)):
        (stand_ins / name).write_text(script)
        (stand_ins / name).chmod(0o755)
    registry = f"127.0.0.1:{free_port()}"
    config = make_project(tmp_path / "project")
    config.write_text(config.read_text() + f"""
[tool.pipeline.engine]
docker_host = "unix://{short}/docker.sock"
data_root = "{tmp_path / 'data'}"
registry = "{registry}"
registry_data = "{tmp_path / 'registry'}"
edge_image = "{registry}/gates-haproxy:2.6"
""")
    env = {
        "PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_HOST": "",
        "SOURCE_ENGINE": engine.docker_host,
        "SOURCE_IMAGE": engine.config.base_image,
        "EXPORT_NAME": unique_name("export"),
    }
    record_path = short / "gates-engine.json"
    other_node = engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip()
    try:
        cold = run_gates(config, "engine", "up", "--no-swarm", env=env, timeout=900)
        assert cold.returncode == 0, cold.stdout + cold.stderr
        for step in ("dockerd answers after", "registry answers after", "debootstrap"):
            assert step in cold.stdout
        for step in ("base done in", "edge done in", "push done in"):
            assert step in cold.stdout
        record = json.loads(record_path.read_text())
        daemons = {name: psutil.Process(record[name]["pid"]) for name in ("dockerd", "registry")}
        assert daemons["dockerd"].cmdline()[:3] == ["dockerd", "-H", f"unix://{short}/docker.sock"]
        status = run_gates(config, "engine", "status", "--no-swarm", env=env)
        assert status.returncode == 0 and "started by `up`, pid" in status.stdout

        down = run_gates(config, "engine", "down", env=env, timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
        assert "docker-registry (pid" in down.stdout and "dockerd (pid" in down.stdout
        assert not any(process.is_running() for process in daemons.values())
        assert not record_path.exists() and not (short / "docker.sock").exists()
        assert not mounts.under(short)

        warm = run_gates(config, "engine", "up", "--no-swarm", env=env, timeout=300)
        assert warm.returncode == 0, warm.stdout + warm.stderr
        assert "debootstrap" not in warm.stdout and "edge done" not in warm.stdout
    finally:
        run_gates(config, "engine", "down", env=env, timeout=120)
        for name in ("dockerd", "registry"):  # whatever down could not stop, by pid
            leftover = Record(record_path).started(name)
            process = leftover.process() if leftover else None
            if process is not None:
                process.kill()
        shutil.rmtree(short, ignore_errors=True)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)
    # the running engine: still there, the same swarm node
    assert engine.docker("info", "--format", "{{.Swarm.NodeID}}").stdout.strip() == other_node
    assert (
        engine.docker("ps", "--all", "--quiet", "--filter", f"name={env['EXPORT_NAME']}").stdout
        == ""
    )
