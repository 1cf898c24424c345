"""Building releases for real: reproducible, content-addressed, offline, tamper-proof."""

import hashlib
import json
import os
import subprocess

import pytest
import requests

from deploy_fixture import clone, no_container_engine, run
from gates.release.install import InstallFailed, install
from support.osv_fixture import osv_copy
from support.ports import free_port
from support.servers import Server
from support.timeouts import HANG

# The same commit built twice gives the identical release: test_release_integrity.py, where
# the rebuild after a killed build (in another clone than the shared release A's) is checked
# artifact by artifact against A.


def test_the_manifest_records_the_security_report_of_its_own_commit_only(tmp_path):
    """security, then build, of one clean commit: the manifest records the report; `security
    --release` audits exactly the pins the release ships; a later commit's build records
    none, and says why."""
    checkout = clone(tmp_path / "repo")
    pyproject = checkout.path / "pyproject.toml"
    pyproject.write_text(no_container_engine(pyproject.read_text()))
    run(["git", "commit", "--quiet", "-am", "test configuration"], checkout.path)
    osv = {"PIPELINE_ADVISORY_SOURCES": "osv", "PIPELINE_OSV_DIR": str(osv_copy(tmp_path / "o"))}
    checkout.gates("security", env={**osv, "CI": "true"})
    audited = checkout.report("security")["details"]
    assert audited["worktree_dirty"] is False and audited["release"] is None
    checkout.gates("build")
    manifest = checkout.report("build")["details"]["manifest"]
    security = manifest["security"]
    assert (security["commit"], security["outcome"]) == (audited["commit"], "passed")
    assert security["requirements_sha256"] == audited["requirements_sha256"]
    shown = checkout.gates("release", "show", "latest").stdout
    assert f"security    passed (security.json, sha256 {security['sha256'][:16]}" in shown

    checkout.gates("security", "--release", "latest", env={**osv, "CI": "true"})
    shipped = checkout.report("security")["details"]
    assert shipped["release"] == manifest["release_id"]
    assert shipped["requirements_sha256"] == audited["requirements_sha256"]
    assert "techcorp-api==" not in (checkout.state / "security" / "requirements.txt").read_text()

    checkout.commit("README.md", "a later commit\n", "2030-01-02T00:00:00+00:00")
    checkout.gates("build")
    later = checkout.report("build")["details"]["manifest"]["security"]
    assert later["report"] is None
    assert later["reason"].startswith(f"it is of commit {audited['commit'][:12]}, this build is of")


def test_build_checks_pass_and_image_step_is_explained(shared_releases):
    report = shared_releases.build_report("A")
    checks = {c["name"]: c for c in report["checks"]}
    assert report["outcome"] == "passed"
    for name in ("lock", "reproducible wheel", "wheel contents", "offline install", "release"):
        assert checks[name]["passed"], checks[name]
    image = report["details"]["manifest"]["image"]
    assert not image["built"] and "container builds are disabled" in image["reason"]


def test_different_commit_gives_different_release(shared_releases, scenario):
    a, b = (shared_releases.build_report(n)["details"] for n in ("A", "B"))
    assert a["release_id"] != b["release_id"]
    assert b["manifest"]["source"]["commit_time"].startswith("2030-01-01")
    listing = scenario("A", "B").gates("release", "list").stdout
    assert a["release_id"] in listing and b["release_id"] in listing


def test_the_release_carries_the_slo_rules_with_their_digest(scenario, tmp_path):
    """The build writes the rules `gates slo-rules` generates into the release; the manifest
    lists them with their sha256, and `release verify` refuses them once changed."""
    checkout = scenario("A")
    release = checkout.state / "releases" / checkout.releases["A"]
    manifest = json.loads((release / "manifest.json").read_text())
    listed = {a["path"]: a for a in manifest["artifacts"]}
    assert manifest["slo_rules"]["path"] == "slo-rules.yml"
    assert listed["slo-rules.yml"]["kind"] == "slo-rules"
    rules = release / "slo-rules.yml"
    assert listed["slo-rules.yml"]["sha256"] == hashlib.sha256(rules.read_bytes()).hexdigest()
    assert "alert: SLOBurnRateFastBurn" in rules.read_text()
    standalone = tmp_path / "standalone.yml"
    generated = checkout.gates("slo-rules", "--output", str(standalone), check=False)
    if generated.returncode != 3:  # 3: no promtool here, and the session says so
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert standalone.read_bytes() == rules.read_bytes()
    assert checkout.gates("release", "verify", release.name).returncode == 0
    rules.write_text(rules.read_text().replace("threshold", "thresh0ld", 1) + "# edited\n")
    verified = checkout.gates("release", "verify", release.name, check=False)
    assert verified.returncode == 1
    assert "slo-rules.yml" in verified.stderr and "changed after the build" in verified.stderr


def test_release_show_prints_the_manifest(scenario):
    shown = scenario("A").gates("release", "show", "latest").stdout
    assert "service     techcorp-api" in shown and "flask==" in shown
    assert "service-wheel" in shown
    assert "slo rules   slo-rules.yml" in shown


def test_wheelhouse_installs_offline_and_serves(scenario, tmp_path):
    checkout = scenario("A")
    venv = tmp_path / "venv"
    checkout.gates("release", "install", "latest", "--venv", str(venv))
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
        response = requests.get(server.url("/health"), timeout=HANG)
        assert response.status_code == 200 and response.json()["status"] == "healthy"
    finally:
        assert server.stop() == 0


@pytest.fixture
def tampered(scenario, tmp_path):
    """A copy of a built release with one byte of one dependency wheel changed."""
    checkout = scenario("A")
    release = checkout.state / "releases" / checkout.releases["A"]
    wheel = next(p for p in (release / "wheelhouse").glob("flask-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[200] ^= 0xFF
    wheel.write_bytes(bytes(data))
    return checkout, release


def test_tampered_artifact_is_refused_with_a_clear_message(tampered, tmp_path):
    checkout, release = tampered
    verified = checkout.gates("release", "verify", release.name, check=False)
    assert verified.returncode == 1
    assert "flask-" in verified.stderr and "changed after the build" in verified.stderr
    installed = checkout.gates(
        "release", "install", release.name, "--venv", str(tmp_path / "v"), check=False
    )
    assert installed.returncode == 1 and "changed after the build" in installed.stderr
    assert not (tmp_path / "v").exists()


def test_install_hash_check_refuses_tampering_even_without_manifest_check(tampered, tmp_path):
    _, release = tampered
    with pytest.raises(InstallFailed, match="did not install"):
        install(release, tmp_path / "v", verify_first=False)


def test_stale_lock_fails_the_build(tmp_path):
    checkout = clone(tmp_path / "repo")
    pyproject = checkout.path / "app" / "pyproject.toml"
    text = pyproject.read_text().replace('"flask>=3.1,<4",', '"flask>=3.1,<4",\n    "idna>=3",')
    checkout.commit("app/pyproject.toml", text, "2030-01-02T00:00:00+00:00")
    done = checkout.gates("build", check=False)
    assert done.returncode == 1
    lock = {c["name"]: c for c in checkout.report("build")["checks"]}["lock"]
    assert not lock["passed"] and "run `nox -s lock`" in lock["measured"]
    assert not list((checkout.state / "releases").glob("[0-9a-f]*"))
