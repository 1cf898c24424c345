"""Every advisory source with real runs: a planted vulnerable pin (flask 0.12.2, the Flask
JSON DoS CVE-2018-1000656) caught by safety, pip-audit (against a local OSV API) and an OSV
directory, each alone and together; fail closed when a source breaks or its data is old."""

import http.server
import json
import threading
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from functools import partial

import pytest

from support.advisory_db import DAY, FLASK_0_12_ADVISORY, PUBLISHED, make_advisory_db, pinned
from support.gates_cli import run_gates
from support.osv_api import osv_api
from support.osv_fixture import osv_copy
from support.ports import free_port
from support.sarif_schema import sarif_errors
from support.pipeline_project import commit_reviewed, make_project
from support.secrets import aws_key, commit_all

TIMEOUT = 300
CVE = "CVE-2018-1000656"
PLANTED = pinned("flask==0.12.2", "itsdangerous==2.2.0")
MODULE_WITH_FINDINGS = """\
import subprocess

ACCESS_KEY_ID = "{key}"


def run(command):
    return subprocess.call(command, shell=True)
"""


def project(tmp_path, sources, extra="", advisories=FLASK_0_12_ADVISORY, timestamp=PUBLISHED):
    config = make_project(tmp_path, security=f"advisory_sources = {json.dumps(sources)}\n{extra}")
    (tmp_path / "requirements.txt").write_text(PLANTED)
    make_advisory_db(tmp_path / "advisories", advisories, timestamp=timestamp)
    osv_copy(tmp_path / "osv")
    commit_reviewed(tmp_path)
    return config


def gate(config, *args, ci="true", env=None):
    root = config.parent
    environ = {"PIPELINE_SAFETY_DB": str(root / "advisories"), "CI": ci, **(env or {})}
    argv = ["security", "--requirements", str(root / "requirements.txt"), *args]
    return run_gates(config, *argv, env=environ, timeout=TIMEOUT)


def security_report(config):
    return json.loads((config.parent / ".pipeline" / "reports" / "security.json").read_text())


def vulnerabilities(config):
    return [f for f in security_report(config)["details"]["findings"] if f["package"]]


def offline_feed(tmp_path):
    """safety's feed URL with nothing behind it: safety uses the named offline database."""
    return f'safety_db_url = "http://127.0.0.1:{free_port()}/"\n'


@pytest.mark.parametrize("source", ["safety", "pip-audit", "osv"])
def test_each_source_alone_catches_the_planted_pin(tmp_path, source):
    with osv_api(osv_copy(tmp_path / "api-data")) as url:
        extra = offline_feed(tmp_path) + f'osv_api_url = "{url}"\n'
        # naming a directory adds the osv source, so only its own case names one
        config = project(tmp_path, [source], extra + ('osv_dir = "osv"\n' * (source == "osv")))
        done = gate(config)
    assert done.returncode == 1, done.stdout + done.stderr
    (vuln,) = vulnerabilities(config)
    assert vuln["sources"] == [source] and vuln["status"] == "failing"
    assert vuln["location"] == "flask==0.12.2"
    assert CVE in [vuln["rule_id"], *vuln["aliases"]]
    assert "0.12.3" in vuln["fix"]
    check = {c["name"]: c for c in security_report(config)["checks"]}[source]
    assert not check["passed"] and check["measured"].startswith("1 failing")


def test_every_source_together_reports_one_vulnerability_and_sarif_from_every_scanner(tmp_path):
    with osv_api(osv_copy(tmp_path / "api-data")) as url:
        extra = offline_feed(tmp_path) + f'osv_api_url = "{url}"\nosv_dir = "osv"\n'
        config = project(tmp_path, ["safety", "pip-audit", "osv"], extra)
        (tmp_path / "mini.py").write_text(MODULE_WITH_FINDINGS.format(key=aws_key()))
        commit_all(tmp_path, "a key and a shell call, past the reviewed baseline")
        done = gate(config)
    assert done.returncode == 1, done.stdout + done.stderr
    (vuln,) = vulnerabilities(config)
    assert vuln["rule_id"] == CVE and vuln["sources"] == ["safety", "pip-audit", "osv"]
    assert {"PYSEC-2018-66", "36388"} <= set(vuln["aliases"])
    sarif = json.loads((tmp_path / ".pipeline" / "security" / "security.sarif").read_text())
    assert sarif_errors(sarif) == []
    runs = {run["tool"]["driver"]["name"]: run["results"] for run in sarif["runs"]}
    assert [r["ruleId"] for r in runs["safety"]] == ["36388"]
    assert [r["ruleId"] for r in runs["pip-audit"]] == ["PYSEC-2018-66"]
    assert len(runs["osv"]) == 1
    assert {r["ruleId"]: r["level"] for r in runs["bandit"]} == {"B404": "warning", "B602": "error"}
    (secret,) = runs["detect-secrets"]
    assert secret["ruleId"] == "AWS Access Key" and secret["level"] == "error"
    assert secret["locations"][0]["physicalLocation"]["region"]["startLine"] == 3
    assert aws_key() not in json.dumps(sarif)
    markdown = (tmp_path / ".pipeline" / "reports" / "security.md").read_text()
    assert (
        "| safety | " in markdown
        and "| pip-audit | pip-audit: OSV API http://127.0.0.1:" in markdown
    )


def waiver(expires):
    return (
        "[[tool.pipeline.security.waivers]]\n"
        f'scanner = "dependencies"\nid = "{CVE}"\npackage = "Flask"\n'
        f'reason = "the JSON decoder is never given client input"\nexpires = {expires}\n'
    )


@pytest.mark.parametrize("days, code, status", [(10, 0, "waived"), (-1, 1, "failing")])
def test_a_waiver_silences_the_vulnerability_from_every_source_until_it_expires(
    tmp_path, days, code, status
):
    expires = (date.today() + timedelta(days=days)).isoformat()
    config = project(tmp_path, ["safety", "osv"], f'osv_dir = "osv"\n{waiver(expires)}')
    done = gate(config, "--offline")
    assert done.returncode == code, done.stdout + done.stderr
    (vuln,) = vulnerabilities(config)
    assert vuln["status"] == status and vuln["sources"] == ["safety", "osv"]
    if status == "failing":
        assert vuln["note"].startswith(f"waiver expired on {expires}")


def test_a_malformed_osv_file_is_could_not_measure_naming_it(tmp_path):
    config = project(tmp_path, ["osv"], 'osv_dir = "osv"\n')
    broken = tmp_path / "osv" / "vulns" / "flask" / "PYSEC-0000-broken.yaml"
    broken.write_text("id: PYSEC-0000-broken\naffected: [\n")
    done = gate(config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "PYSEC-0000-broken.yaml" in done.stderr
    assert security_report(config)["outcome"] == "could not measure"


@pytest.mark.parametrize("status", [None, 500])
def test_an_unreachable_or_failing_osv_api_is_could_not_measure(tmp_path, status):
    if status is None:
        url = f"http://127.0.0.1:{free_port()}/v1/query"
        config = project(tmp_path, ["pip-audit"], f'osv_api_url = "{url}"\n', advisories={})
        done = gate(config)
    else:
        with osv_api(osv_copy(tmp_path / "api-data"), status=status) as url:
            config = project(tmp_path, ["pip-audit"], f'osv_api_url = "{url}"\n', advisories={})
            done = gate(config)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "pip-audit: pip-audit could not audit" in security_report(config)["error"]
    (source,) = security_report(config)["details"]["advisory_sources"]
    assert source["error"] and source["findings"] == 0


def test_a_pip_audit_crash_is_could_not_measure(tmp_path):
    fakes = tmp_path / "fakes" / "pip_audit"
    fakes.mkdir(parents=True)
    (fakes / "__init__.py").write_text("")
    (fakes / "_cli.py").write_text("def audit():\n    raise RuntimeError('auditor bug')\n")
    config = project(tmp_path, ["pip-audit"], advisories={})
    done = gate(config, env={"PYTHONPATH": str(tmp_path / "fakes")})
    assert done.returncode == 3, done.stdout + done.stderr
    assert "RuntimeError: auditor bug" in security_report(config)["error"]


def test_a_finding_still_fails_the_gate_when_another_source_could_not_measure(tmp_path):
    config = project(tmp_path, ["safety", "pip-audit"])
    done = gate(config, "--offline")
    assert done.returncode == 1, done.stdout + done.stderr
    checks = {c["name"]: c for c in security_report(config)["checks"]}
    assert checks["pip-audit"]["measured"] == "not run: --offline"
    assert not checks["pip-audit"]["passed"] and not checks["vulnerabilities"]["passed"]


OLD = PUBLISHED - 60 * DAY


def test_old_advisory_data_is_could_not_measure_under_ci(tmp_path):
    config = project(tmp_path, ["safety"], advisories={}, timestamp=OLD)
    done = gate(config, "--offline")
    assert done.returncode == 3, done.stdout + done.stderr
    report = security_report(config)
    assert report["error"] == "no current advisory data: safety data is 62 days old (max 30)"
    assert report["details"]["stale_sources"] == ["safety"]


# safety's free feed is published monthly: its data is up to a month old on a good day.
MONTH_OLD = PUBLISHED - 40 * DAY
SAFETY_BOUND = "max_advisory_age_by_source = { safety = 45 }\n"


@pytest.mark.parametrize("bound, exit_code", [(SAFETY_BOUND, 0), ("", 3)])
def test_a_source_with_a_bound_of_its_own_is_judged_by_it(tmp_path, bound, exit_code):
    config = project(tmp_path, ["safety"], bound, advisories={}, timestamp=MONTH_OLD)
    done = gate(config, "--offline")
    assert done.returncode == exit_code, done.stdout + done.stderr
    report = security_report(config)
    (source,) = report["details"]["advisory_sources"]
    assert (source["age_days"], source["max_age_days"]) == (42, 45 if bound else 30)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["advisory data"]["limit"].startswith(
        f"every source answered, with data at most safety {45 if bound else 30} days old"
    )


def test_past_its_own_bound_a_source_is_still_could_not_measure(tmp_path):
    config = project(tmp_path, ["safety"], SAFETY_BOUND, advisories={}, timestamp=OLD)
    done = gate(config, "--offline")
    assert done.returncode == 3, done.stdout + done.stderr
    assert security_report(config)["error"] == (
        "no current advisory data: safety data is 62 days old (max 45)"
    )


def test_one_source_s_bound_never_relaxes_another(tmp_path):
    """safety's monthly bound leaves an OSV directory as old as safety's data stale: every
    source answers for its own data, and the report names each one's age and bound."""
    outside = tmp_path / "outside"  # not in the project's tracked tree
    osv = osv_copy(outside / "osv", modified=datetime.fromtimestamp(MONTH_OLD, timezone.utc))
    (outside / "requirements.txt").write_text(pinned("itsdangerous==2.2.0"))  # unaffected
    root = tmp_path / "project"
    extra = SAFETY_BOUND + f'osv_dir = "{osv}"\n'
    config = project(root, ["safety", "osv"], extra, advisories={}, timestamp=MONTH_OLD)
    argv = ["security", "--offline", "--requirements", str(outside / "requirements.txt")]
    environ = {"PIPELINE_SAFETY_DB": str(root / "advisories"), "CI": "true"}
    done = run_gates(config, *argv, env=environ, timeout=TIMEOUT)
    assert done.returncode == 3, done.stdout + done.stderr
    report = security_report(config)
    assert report["error"] == "no current advisory data: osv data is 42 days old (max 30)"
    assert report["details"]["stale_sources"] == ["osv"]
    ages = {
        s["source"]: (s["age_days"], s["max_age_days"])
        for s in report["details"]["advisory_sources"]
    }
    assert ages == {"safety": (42, 45), "osv": (42, 30)}


def test_old_advisory_data_on_a_laptop_passes_with_a_loud_warning_in_the_summary(tmp_path):
    config = project(tmp_path, ["safety"], advisories={}, timestamp=OLD)
    done = gate(config, "--offline", ci="")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING: could not measure with current advisories: safety data is 62" in done.stdout
    checks = {c["name"]: c for c in security_report(config)["checks"]}
    assert checks["advisory data"]["measured"].startswith("STALE: safety data is 62 days old")
    markdown = (tmp_path / ".pipeline" / "reports" / "security.md").read_text()
    assert "**Advisory data is not current**" in markdown
    summary = run_gates(config, "summary", env={"CI": ""}, timeout=TIMEOUT)
    (row,) = [line for line in summary.stdout.splitlines() if line.startswith("| security")]
    assert "STALE advisories (safety)" in row


def test_pip_audit_not_run_offline_is_missing_data_under_ci(tmp_path):
    config = project(tmp_path, ["safety", "pip-audit"], advisories={})
    done = gate(config, "--offline")
    assert done.returncode == 3, done.stdout + done.stderr
    assert security_report(config)["error"] == "pip-audit: not run: --offline"


@contextmanager
def feed_server(directory):
    """safety's feed: a directory served over HTTP on 127.0.0.1, stopped on exit."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_online_feed_is_fetched_and_dated(tmp_path):
    make_advisory_db(tmp_path / "www" / "feed", FLASK_0_12_ADVISORY)
    with feed_server(tmp_path / "www") as url:
        config = project(tmp_path, ["safety"], f'safety_db_url = "{url}"\n', advisories={})
        done = gate(config, env={"PIPELINE_SAFETY_DB": ""})
    assert done.returncode == 1, done.stdout + done.stderr
    (source,) = security_report(config)["details"]["advisory_sources"]
    assert source["data"] == f"feed {url}" and source["age_days"] == 2
    published = datetime.fromtimestamp(PUBLISHED, timezone.utc)
    assert source["as_of"] == published.isoformat(timespec="seconds")
    (vuln,) = vulnerabilities(config)
    assert vuln["rule_id"] == CVE
