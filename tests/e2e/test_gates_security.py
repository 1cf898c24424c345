"""The security gate with real bandit and safety runs: planted code, test-built databases.
(Every advisory source together, freshness and the OSV sources: test_security_sources.py.)"""

import json
import os
from datetime import date, timedelta

import pytest

from support.advisory_db import FLASK_ADVISORY, make_advisory_db, pinned
from support.pipeline_project import commit_reviewed, make_project
from support.gates_cli import run_gates
from support.ports import free_port

TIMEOUT = 300
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PLANTED = """\
import subprocess

password = "hunter2-not-a-secret"


def run(command):
    return subprocess.call(command, shell=True)


def calculate(expression):
    return eval(expression)
"""


def project(
    tmp_path,
    module=None,
    security='advisory_sources = ["safety"]',
    requirements=pinned("flask==1.0"),
    advisories=None,
):
    config = make_project(tmp_path, security=security)
    if module is not None:
        (tmp_path / "mini.py").write_text(module)
    (tmp_path / "requirements.txt").write_text(requirements)
    make_advisory_db(tmp_path / "advisories", advisories)
    commit_reviewed(tmp_path)
    return config


def security_gate(config, *args, env=None, requirements=True):
    """``python -m gates security`` with the project's test database, as CI runs it."""
    root = config.parent
    argv = ["security", *args]
    if requirements:
        argv += ["--requirements", str(root / "requirements.txt")]
    environ = {"PIPELINE_SAFETY_DB": str(root / "advisories"), "CI": "true", **(env or {})}
    return run_gates(config, *argv, env=environ, timeout=TIMEOUT)


def security_report(config):
    return json.loads((config.parent / ".pipeline" / "reports" / "security.json").read_text())


def findings(config, scanner=None):
    found = security_report(config)["details"]["findings"]
    return [f for f in found if scanner in (None, f["scanner"])]


def waiver(scanner, id_, target, days, reason="accepted risk for the test"):
    key = "path" if scanner == "bandit" else "package"
    expires = date.today() + timedelta(days=days)
    return (
        "[[tool.pipeline.security.waivers]]\n"
        f'scanner = "{scanner}"\nid = "{id_}"\n{key} = "{target}"\n'
        f'reason = "{reason}"\nexpires = {expires.isoformat()}\n'
    )


def test_clean_tree_passes_with_sarif(tmp_path):
    config = project(tmp_path)
    done = security_gate(config, "--offline")
    assert done.returncode == 0, done.stdout + done.stderr
    data = security_report(config)
    assert data["outcome"] == "passed" and data["details"]["findings"] == []
    assert data["details"]["packages_audited"] == 1
    sarif = json.loads((tmp_path / ".pipeline" / "security" / "security.sarif").read_text())
    names = [run["tool"]["driver"]["name"] for run in sarif["runs"]]
    assert names == ["bandit", "detect-secrets", "safety"]
    assert all(run["results"] == [] for run in sarif["runs"])


def test_high_bandit_finding_fails(tmp_path):
    config = project(tmp_path, module=PLANTED)
    done = security_gate(config, "--offline")
    assert done.returncode == 1
    by_rule = {f["rule_id"]: f for f in findings(config, "bandit")}
    assert by_rule["B602"]["status"] == "failing"
    assert (by_rule["B602"]["location"], by_rule["B602"]["severity"]) == ("mini.py:7", "HIGH")
    # eval (MEDIUM) and the hardcoded password (LOW) are reported, below the threshold.
    assert by_rule["B307"]["status"] == "below threshold"
    assert by_rule["B105"]["status"] == "below threshold"
    markdown = (tmp_path / ".pipeline" / "reports" / "security.md").read_text()
    assert "| **FAILING** | bandit | mini.py:7 | B602 | HIGH / HIGH |" in markdown


ONLY_SAFETY = 'advisory_sources = ["safety"]\n'


def test_waived_finding_passes_and_is_listed_as_waived(tmp_path):
    config = project(
        tmp_path, module=PLANTED, security=ONLY_SAFETY + waiver("bandit", "B602", "mini.*", 30)
    )
    done = security_gate(config, "--offline")
    assert done.returncode == 0, done.stdout + done.stderr
    b602 = next(f for f in findings(config) if f["rule_id"] == "B602")
    assert b602["status"] == "waived" and "accepted risk for the test" in b602["note"]
    assert security_report(config)["details"]["waivers"][0]["state"] == "active"
    sarif = json.loads((tmp_path / ".pipeline" / "security" / "security.sarif").read_text())
    result = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == "B602")
    assert result["suppressions"][0]["kind"] == "external"
    assert (
        "| waived | bandit | mini.py:7 | B602 |"
        in (tmp_path / ".pipeline" / "reports" / "security.md").read_text()
    )


def test_expired_waiver_stops_waiving_and_says_so(tmp_path):
    config = project(
        tmp_path, module=PLANTED, security=ONLY_SAFETY + waiver("bandit", "B602", "mini.py", -1)
    )
    done = security_gate(config, "--offline")
    assert done.returncode == 1
    b602 = next(f for f in findings(config) if f["rule_id"] == "B602")
    assert b602["status"] == "failing" and b602["note"].startswith("waiver expired on")
    assert "waiver B602 (mini.py) is expired" in done.stdout


def test_waiver_matching_nothing_is_reported_stale(tmp_path):
    config = project(tmp_path, security=ONLY_SAFETY + waiver("bandit", "B602", "gone.py", 30))
    done = security_gate(config, "--offline")
    assert done.returncode == 0
    assert security_report(config)["details"]["waivers"][0]["state"] == "stale"
    assert "matches no finding; remove it" in done.stdout


def test_known_vulnerability_in_a_dependency_fails(tmp_path):
    config = project(tmp_path, advisories=FLASK_ADVISORY)
    done = security_gate(config, "--offline")
    assert done.returncode == 1
    (vuln,) = findings(config, "safety")
    # Named by its CVE; safety's own id is an alias and what its SARIF run shows.
    assert (vuln["location"], vuln["rule_id"], vuln["fix"]) == (
        "flask==1.0",
        "CVE-2099-0001",
        ">=1.1",
    )
    assert vuln["aliases"] == ["90001"] and vuln["status"] == "failing"
    assert vuln["sources"] == ["safety"] and vuln["extra"]["reported_as"] == {"safety": "90001"}


def test_vulnerability_waived_by_cve_passes(tmp_path):
    config = project(
        tmp_path,
        advisories=FLASK_ADVISORY,
        security=ONLY_SAFETY + waiver("safety", "CVE-2099-0001", "Flask", 10),
    )
    assert security_gate(config, "--offline").returncode == 0
    assert findings(config, "safety")[0]["status"] == "waived"


def test_unreachable_feed_falls_back_to_offline_db_loudly(tmp_path):
    nothing_listens = f"http://127.0.0.1:{free_port()}/feed/"
    config = project(
        tmp_path,
        advisories=FLASK_ADVISORY,
        security=ONLY_SAFETY + f'safety_db_url = "{nothing_listens}"',
    )
    done = security_gate(config)
    assert done.returncode == 1
    assert f"safety's feed cannot be used ({nothing_listens}insecure.json: " in done.stdout
    assert "using the offline database" in done.stdout
    (source,) = security_report(config)["details"]["advisory_sources"]
    assert source["data"] == f"offline database {tmp_path / 'advisories'}"
    assert source["age_days"] == 2 and source["stale"] is False


def test_no_offline_database_named_is_exit_3(tmp_path):
    config = project(tmp_path)
    done = security_gate(config, "--offline", env={"PIPELINE_SAFETY_DB": ""})
    assert done.returncode == 3
    assert "no offline database is named" in done.stderr
    assert security_report(config)["outcome"] == "could not measure"


def test_named_database_that_does_not_exist_is_a_config_error(tmp_path):
    config = project(tmp_path)
    done = security_gate(config, "--offline", env={"PIPELINE_SAFETY_DB": str(tmp_path)})
    assert done.returncode == 2
    assert "has no insecure.json" in done.stderr


def test_database_that_crashes_safety_is_exit_3(tmp_path):
    config = project(tmp_path)
    (tmp_path / "advisories" / "insecure_full.json").write_text('{"$meta": {"timestamp": 1}, ')
    done = security_gate(config, "--offline")
    assert done.returncode == 3
    assert "insecure_full.json is unreadable or not JSON" in done.stderr


def test_code_bandit_cannot_parse_is_exit_3(tmp_path):
    config = project(tmp_path, module="def broken(:\n")
    done = security_gate(config, "--offline")
    assert done.returncode == 3
    assert "bandit could not scan 1 file(s), e.g. mini.py" in done.stderr


def test_bandit_path_that_does_not_exist_is_exit_3(tmp_path):
    # bandit itself exits 0 here; the gate does not.
    config = project(tmp_path, security='bandit_paths = ["nowhere"]')
    config.write_text(config.read_text().replace('bandit_paths = ["mini.py"]\n', "", 1))
    done = security_gate(config, "--offline")
    assert done.returncode == 3
    assert "bandit could not scan" in done.stderr and "nowhere" in done.stderr


def fake_scanner(tmp_path, name, body):
    """A stand-in module that shadows a real scanner, to make it misbehave."""
    package = tmp_path / "fakes" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text("import sys\n" + body)
    return {"PYTHONPATH": str(tmp_path / "fakes")}


REPORT_PATH = "out = sys.argv[sys.argv.index('{flag}') + 1]\n"


@pytest.mark.parametrize(
    "name, flag, body, message",
    [
        ("bandit", "-o", "sys.exit(0)\n", "bandit exited 0 but wrote no report"),
        ("bandit", "-o", "open(out, 'w').close()\n", "bandit: report .* is empty"),
        ("bandit", "-o", "open(out, 'w').write('{\"results\": [')\n", "is not valid JSON"),
        ("bandit", "-o", "open(out, 'w').write('{\"results\": []}')\n", "has no 'errors'"),
        (
            "bandit",
            "-o",
            "raise RuntimeError('scanner bug')\n",
            "bandit exited 1 but wrote no report .*: RuntimeError: scanner bug",
        ),
        ("safety", "--save-json", "open(out, 'w').write('[]')\n", "top level is list"),
        ("safety", "--save-json", "sys.exit(70)\n", "safety exited 70"),
    ],
)
def test_misbehaving_scanner_is_exit_3_naming_it(tmp_path, name, flag, body, message):
    import re

    config = project(tmp_path)
    env = fake_scanner(tmp_path, name, REPORT_PATH.format(flag=flag) + body)
    done = security_gate(config, "--offline", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("gates security:")]
    assert re.search(message, line), line


def test_repository_lock_is_audited_through_uv_export(tmp_path):
    """The real project: its uv.lock exported, werkzeug flagged by a test database."""
    db = make_advisory_db(
        tmp_path / "db", {"werkzeug": [("90002", None, "<99", "test advisory for werkzeug")]}
    )
    done = run_gates(
        None,
        "security",
        "--offline",
        cwd=ROOT,
        env={"PIPELINE_SAFETY_DB": str(db)},
        state_dir=tmp_path,
        timeout=TIMEOUT,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((tmp_path / "reports" / "security.json").read_text())
    (vuln,) = [f for f in data["details"]["findings"] if f["scanner"] == "safety"]
    assert vuln["location"].startswith("werkzeug==") and vuln["status"] == "failing"
    assert data["details"]["packages_audited"] >= 5
    requirements = (tmp_path / "security" / "requirements.txt").read_text()
    assert "flask==" in requirements and "pytest" not in requirements
