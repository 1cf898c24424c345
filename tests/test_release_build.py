"""Building releases for real: reproducible, content-addressed, offline, tamper-proof."""

import json
import os
import subprocess
import sys

import pytest
import requests

from conftest import Server, free_port
from deploy_fixture import ROOT as FIXTURE_ROOT
from deploy_fixture import run
from gates.release.install import InstallFailed, install

pytestmark = pytest.mark.e2e

ROOT = str(FIXTURE_ROOT)


def clone(destination):
    run(["git", "clone", "--quiet", ROOT, str(destination)], cwd=ROOT)
    return destination


def gates(checkout, *args, check=True):
    """This tree's gates (not the clone's), working on the clone."""
    env = {"PIPELINE_STATE_DIR": str(checkout / ".pipeline")}
    argv = [sys.executable, "-m", "gates", "--config", str(checkout / "pyproject.toml"), *args]
    return run(argv, cwd=ROOT, env=env, check=check)


def build_report(checkout):
    return json.loads((checkout / ".pipeline" / "reports" / "build.json").read_text())


def commit_change(checkout, path, text, date):
    (checkout / path).write_text(text)
    run(
        ["git", "commit", "--quiet", "-am", "change"],
        checkout,
        env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date},
    )


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    """The same commit built in two fresh clones."""
    checkouts = [clone(tmp_path_factory.mktemp("build") / "repo") for _ in range(2)]
    for checkout in checkouts:
        gates(checkout, "build")
    return checkouts


def test_same_commit_twice_gives_identical_release(two_builds):
    first, second = (build_report(c)["details"]["manifest"] for c in two_builds)
    assert first["release_id"] == second["release_id"]
    digests = [{a["path"]: a["sha256"] for a in m["artifacts"]} for m in (first, second)]
    assert digests[0] == digests[1]
    assert any(a["kind"] == "service-wheel" for a in first["artifacts"])
    assert len([a for a in first["artifacts"] if a["kind"] == "dependency-wheel"]) == len(
        first["dependencies"]
    )
    assert first["source"]["commit"] == second["source"]["commit"]
    assert (
        two_builds[0] / ".pipeline" / "releases" / first["release_id"] / "sbom.cdx.json"
    ).is_file()


def test_build_checks_pass_and_image_step_is_explained(two_builds):
    report = build_report(two_builds[0])
    checks = {c["name"]: c for c in report["checks"]}
    assert report["outcome"] == "passed"
    for name in ("lock", "reproducible wheel", "wheel contents", "offline install", "release"):
        assert checks[name]["passed"], checks[name]
    image = report["details"]["manifest"]["image"]
    assert image["built"] or image["reason"]


def test_different_commit_gives_different_release(two_builds):
    checkout = two_builds[1]
    before = build_report(checkout)["details"]["release_id"]
    commit_change(checkout, "app/README.md", "changed\n", "2030-01-01T00:00:00+00:00")
    gates(checkout, "build")
    after = build_report(checkout)["details"]
    assert after["release_id"] != before
    assert after["manifest"]["source"]["commit_time"].startswith("2030-01-01")
    listing = gates(checkout, "release", "list").stdout
    assert before in listing and after["release_id"] in listing


def test_release_show_prints_the_manifest(two_builds):
    shown = gates(two_builds[0], "release", "show", "latest").stdout
    assert "service     techcorp-api" in shown and "flask==" in shown
    assert "service-wheel" in shown


def test_wheelhouse_installs_offline_and_serves(two_builds, tmp_path):
    checkout = two_builds[0]
    venv = tmp_path / "venv"
    gates(checkout, "release", "install", "latest", "--venv", str(venv))
    assert not (venv / "lib" / "python3.11" / "site-packages" / "gates").exists()
    port = free_port()
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(venv / "bin" / "techcorp-api"), "--bind", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        server.wait_ready()
        response = requests.get(server.url("/health"), timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "healthy"
    finally:
        assert server.stop() == 0


@pytest.fixture
def tampered(two_builds, tmp_path):
    """A copy of a built release with one byte of one dependency wheel changed."""
    import shutil

    checkout = two_builds[0]
    release_id = build_report(checkout)["details"]["release_id"]
    state = tmp_path / "state"
    shutil.copytree(checkout / ".pipeline" / "releases", state / "releases")
    release = state / "releases" / release_id
    wheel = next(p for p in (release / "wheelhouse").glob("flask-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[200] ^= 0xFF
    wheel.write_bytes(bytes(data))
    return checkout, state, release


def test_tampered_artifact_is_refused_with_a_clear_message(tampered, tmp_path):
    checkout, state, release = tampered
    env = {"PIPELINE_STATE_DIR": str(state)}
    argv = [sys.executable, "-m", "gates", "--config", str(checkout / "pyproject.toml"), "release"]
    verified = run([*argv, "verify", release.name], ROOT, env=env, check=False)
    assert verified.returncode == 1
    assert "flask-" in verified.stderr and "changed after the build" in verified.stderr
    installed = run(
        [*argv, "install", release.name, "--venv", str(tmp_path / "v")], ROOT, env, False
    )
    assert installed.returncode == 1 and "changed after the build" in installed.stderr
    assert not (tmp_path / "v").exists()


def test_install_hash_check_refuses_tampering_even_without_manifest_check(tampered, tmp_path):
    _, _, release = tampered
    with pytest.raises(InstallFailed, match="did not install"):
        install(release, tmp_path / "v", verify_first=False)


def test_stale_lock_fails_the_build(tmp_path):
    checkout = clone(tmp_path / "repo")
    pyproject = checkout / "app" / "pyproject.toml"
    text = pyproject.read_text().replace('"flask>=3.1,<4",', '"flask>=3.1,<4",\n    "idna>=3",')
    commit_change(checkout, "app/pyproject.toml", text, "2030-01-02T00:00:00+00:00")
    done = gates(checkout, "build", check=False)
    assert done.returncode == 1
    lock = {c["name"]: c for c in build_report(checkout)["checks"]}["lock"]
    assert not lock["passed"] and "run `nox -s lock`" in lock["measured"]
    assert not list((checkout / ".pipeline" / "releases").glob("[0-9a-f]*"))
