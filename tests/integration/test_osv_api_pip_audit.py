"""The local OSV API (tests/support/osv_api.py) against the real pip-audit, and on its own.

pip-audit 2.10 runs as the security gate will run it: fail-closed (``--strict``, hashes
required, no pip resolution) against the OSV service at ``--osv-url``. Its exit code alone
cannot tell findings from a crash (both are 1): what tells them apart is the JSON report, which
pip-audit writes only when it finished the audit.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gates.outcome import MeasurementError
from support.children import without_coverage
from support.osv_api import osv_api
from support.osv_fixture import FIXTURE, osv_copy
from support.ports import free_port
from support.timeouts import HANG

PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
# sha256 of the wheels on PyPI (pip download --no-deps --only-binary=:all: ...); with
# --disable-pip and -s osv pip-audit checks only that every pin carries a hash.
FLASK_0_12_2 = "0749df235e3ff61ac108f69ac178c9770caeaccad2509cb762ce1f65570a8856"
FLASK_0_12_3 = "74bb782687731332b86aa8ab0817be14c9e63e5fa837934de8be4f9236d6d0d2"
JINJA2_2_10 = "74c935a1b8bb9a3947c50a54766a969d4846290e1e788ea44c1392163723c3bd"
VULNERABLE = (
    f"flask==0.12.2 --hash=sha256:{FLASK_0_12_2}\njinja2==2.10 --hash=sha256:{JINJA2_2_10}\n"
)
CLEAN = f"flask==0.12.3 --hash=sha256:{FLASK_0_12_3}\n"


def pip_audit(url: str, requirements: str, tmp_path: Path) -> tuple[int, str, dict | None]:
    """(exit code, stderr, the JSON report or None when pip-audit wrote none)."""
    (tmp_path / "requirements.txt").write_text(requirements)
    report = tmp_path / "pip-audit.json"
    report.unlink(missing_ok=True)
    run = subprocess.run(
        [
            str(PIP_AUDIT),
            *("-r", str(tmp_path / "requirements.txt")),
            *("--require-hashes", "--disable-pip", "--strict"),
            *("-s", "osv", "--osv-url", url),
            *("-f", "json", "-o", str(report), "--progress-spinner", "off"),
            # its own cache, not the user's; a bounded wait for the service
            *("--cache-dir", str(tmp_path / "cache"), "--timeout", str(int(HANG))),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=without_coverage(),  # pip-audit runs none of this repository's code
    )
    return run.returncode, run.stderr, json.loads(report.read_text()) if report.exists() else None


def test_pip_audit_finds_the_planted_flask_and_jinja2_advisories(tmp_path):
    queries: list = []
    with osv_api(FIXTURE, queries=queries) as url:
        code, stderr, report = pip_audit(url, VULNERABLE, tmp_path)
    assert code == 1, stderr
    assert "Found 2 known vulnerabilities in 2 packages" in stderr
    vulns = {dep["name"]: dep["vulns"] for dep in report["dependencies"]}
    (flask,) = vulns["flask"]
    assert flask["id"] == "PYSEC-2018-66"
    assert flask["fix_versions"] == ["0.12.3"]
    assert set(flask["aliases"]) == {"CVE-2018-1000656", "GHSA-562c-5r94-xh97"}
    # the explicit versions list matched; the withdrawn and the npm records did not
    (jinja2,) = vulns["jinja2"]
    assert jinja2["id"] == "PYSEC-2019-217" and jinja2["fix_versions"] == []
    assert queries == [
        {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "0.12.2"},
        {"package": {"name": "jinja2", "ecosystem": "PyPI"}, "version": "2.10"},
    ]


def test_pip_audit_passes_a_fixed_pin_and_still_writes_its_report(tmp_path):
    with osv_api(FIXTURE) as url:
        code, stderr, report = pip_audit(url, CLEAN, tmp_path)
    assert code == 0, stderr
    expected = {"dependencies": [{"name": "flask", "version": "0.12.3", "vulns": []}], "fixes": []}
    assert report == expected


def test_a_broken_source_makes_pip_audit_fail_without_a_report(tmp_path):
    with osv_api(FIXTURE, status=500) as url:
        code, stderr, report = pip_audit(url, VULNERABLE, tmp_path)
    assert code != 0 and report is None
    assert "ServiceError" in stderr


def test_an_unreachable_source_makes_pip_audit_fail_without_a_report(tmp_path):
    code, stderr, report = pip_audit(f"http://127.0.0.1:{free_port()}/v1/query", CLEAN, tmp_path)
    assert code != 0 and report is None
    assert "Connection refused" in stderr


def query(url: str, body: object) -> requests.Response:
    return requests.post(url, data=json.dumps(body), timeout=HANG)


def test_the_api_answers_like_osv_dev(tmp_path):
    directory = osv_copy(tmp_path / "osv")
    with osv_api(directory) as url:
        found = query(url, {"package": {"name": "Flask", "ecosystem": "PyPI"}, "version": "0.12"})
        none = query(url, {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "1.0"})
        npm = query(url, {"package": {"name": "flask", "ecosystem": "npm"}, "version": "1.0"})
        bad = query(url, {"package": {"name": "flask"}, "version": "1.0"})
        elsewhere = requests.post(url.replace("/v1/query", "/v1/querybatch"), timeout=HANG)
    assert found.status_code == 200
    (record,) = found.json()["vulns"]
    # the record as the file holds it, timestamps as written
    assert record["id"] == "PYSEC-2018-66" and record["modified"] == "2026-11-02T09:15:00.123456Z"
    assert record["affected"][0]["versions"][0] == "0.10"  # a string, not the YAML float 0.1
    assert (none.status_code, none.json()) == (200, {})
    assert (npm.status_code, npm.json()) == (200, {})
    assert bad.status_code == 400 and elsewhere.status_code == 404


def test_the_api_refuses_to_start_on_a_malformed_directory(tmp_path):
    directory = osv_copy(tmp_path / "osv")
    (directory / "vulns/flask/PYSEC-2018-66.yaml").write_text("id: [unclosed\n")
    with pytest.raises(MeasurementError, match="vulns/flask/PYSEC-2018-66.yaml"):
        with osv_api(directory):
            pass
