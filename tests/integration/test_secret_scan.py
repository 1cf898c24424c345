"""The secret scan with real detect-secrets runs over a test git tree with a planted AWS key.

Every scan is the gate's own, a real detect-secrets run. The baseline a user would make with
`detect-secrets scan -n` is made once for the planted tree (``planted_baseline``) and written,
reviewed as each test needs, into each copy of that tree; a test whose tree differs scans its
own.
"""

import copy
import json
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from gates.config import load_config
from gates.outcome import ConfigError, MeasurementError
from gates.security import policy, secret_scan
from gates.security.findings import FAILING, WAIVED
from support.pipeline_project import make_project
from support.children import COVERAGE_CHILDREN
from support.secrets import (
    BASELINE,
    aws_key,
    commit_all,
    git,
    make_baseline,
    scanned_baseline,
    without_results,
    write_baseline,
)

TODAY = date.today()


def planted_tree(root: Path, security: str = "") -> Path:
    """A committed project whose tracked ``settings.py`` holds an AWS key on line 2."""
    config = make_project(root, security=security)
    (root / "settings.py").write_text(f'REGION = "eu-west-1"\nACCESS_KEY_ID = "{aws_key()}"\n')
    commit_all(root)
    return config


@pytest.fixture(scope="module", autouse=True)
def scanners_without_coverage() -> Iterator[None]:
    """Coverage's subprocess patch starts coverage in every Python child; the gate's
    detect-secrets runs none of this repository's code, so it measures nothing there."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(COVERAGE_CHILDREN, raising=False)
        yield


@pytest.fixture(scope="module")
def planted_baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """detect-secrets' baseline of ``planted_tree(root)``, as `detect-secrets scan -n` makes it
    (not reviewed); read-only: ``write_baseline`` writes reviewed copies."""
    root = tmp_path_factory.mktemp("planted")
    planted_tree(root)
    commit_all(root)
    return scanned_baseline(root)


def scan(config: Path, out: Path) -> secret_scan.SecretScan:
    out.mkdir(exist_ok=True)
    return secret_scan.scan(load_config(config, environ={}), out)


def written(out: Path, result: secret_scan.SecretScan) -> str:
    """Everything the scan left for a report: its output files and its findings."""
    files = "".join(p.read_text() for p in out.iterdir())
    return files + json.dumps([f.to_dict() for f in result.findings])


def test_a_planted_aws_key_fails_and_its_value_is_written_nowhere(
    tmp_path, capfd, planted_baseline
):
    root, out = tmp_path / "repo", tmp_path / "out"
    config = planted_tree(root)
    write_baseline(root, without_results(planted_baseline))
    commit_all(root, "baseline")
    result = scan(config, out)
    aws = [f for f in result.findings if f.rule_id == "AWS Access Key"]
    assert [(f.path, f.line, f.severity, f.title) for f in aws] == [
        ("settings.py", 2, "HIGH", "AWS Access Key in tracked file")
    ]
    assert aws[0].extra["hashed_secret"] and not aws[0].note
    assert result.baselined == 0 and result.baseline == BASELINE
    assert result.files == len(git(root, "ls-files").splitlines())
    assert aws_key() not in written(out, result) + "".join(capfd.readouterr())
    # nothing is sent to a service to verify it: the run had no verification filter
    filters = json.loads((out / secret_scan.REPORT).read_text())["filters_used"]
    assert not [f for f in filters if "verification" in f["path"]]
    policy.evaluate(result.findings, load_config(config, environ={}).security, TODAY)
    assert aws[0].status == FAILING


def test_a_key_baselined_as_a_false_positive_passes(tmp_path, planted_baseline):
    root, out = tmp_path / "repo", tmp_path / "out"
    config = planted_tree(root)
    write_baseline(root, planted_baseline, is_secret=False)
    commit_all(root, "baseline")
    before = (root / BASELINE).read_text()
    result = scan(config, out)
    assert result.findings == []
    assert result.baselined >= 1 and result.stale == 0
    assert (root / BASELINE).read_text() == before  # read, never rewritten
    assert aws_key() not in written(out, result)


@pytest.mark.parametrize(
    "is_secret, note",
    [(None, "not reviewed as a false positive: run detect-secrets audit"), (True, "real secret")],
)
def test_a_baselined_key_not_reviewed_as_false_positive_fails(
    tmp_path, planted_baseline, is_secret, note
):
    root, out = tmp_path / "repo", tmp_path / "out"
    config = planted_tree(root)
    write_baseline(root, planted_baseline, is_secret=is_secret)
    commit_all(root, "baseline")
    result = scan(config, out)
    (aws,) = [f for f in result.findings if f.rule_id == "AWS Access Key"]
    assert note in aws.note and result.baselined == 0


def test_a_secret_moved_to_another_file_is_new_and_the_old_entry_stale(tmp_path, planted_baseline):
    root, out = tmp_path / "repo", tmp_path / "out"
    config = planted_tree(root)
    write_baseline(root, planted_baseline, is_secret=False)
    git(root, "mv", "settings.py", "production.py")
    commit_all(root, "move")
    result = scan(config, out)
    assert [(f.path, f.rule_id) for f in result.findings] == [("production.py", "AWS Access Key")]
    assert result.stale >= 1


def test_untracked_files_are_not_scanned(tmp_path, planted_baseline):
    root, out = tmp_path / "repo", tmp_path / "out"
    make_project(root)  # the planted tree without its key: detect-secrets finds nothing
    write_baseline(root, without_results(planted_baseline))
    commit_all(root)
    (root / "scratch.py").write_text(f'KEY = "{aws_key()}"\n')  # never added to git
    result = scan(root / "pyproject.toml", out)
    assert result.findings == []
    git(root, "add", "scratch.py")
    assert [f.path for f in scan(root / "pyproject.toml", out).findings] == ["scratch.py"]


def waiver(id_: str, path: str, expires: date) -> str:
    return f"""
[[tool.pipeline.security.waivers]]
scanner = "detect-secrets"
id = "{id_}"
path = "{path}"
reason = "the documented example key of the AWS docs"
expires = {expires.isoformat()}
"""


@pytest.fixture(scope="module")
def waived_scan(tmp_path_factory, planted_baseline):
    """The planted tree with a waiver of its key that expires today, scanned once; each test
    judges its own copy of the findings (the policy marks them)."""
    root = tmp_path_factory.mktemp("waived")
    config = planted_tree(root, security=waiver("AWS Access Key", "settings.*", TODAY))
    write_baseline(root, without_results(planted_baseline))
    commit_all(root, "baseline")
    return config, scan(config, tmp_path_factory.mktemp("out")).findings


@pytest.mark.parametrize("days, status", [(0, WAIVED), (30, WAIVED), (-1, FAILING)])
def test_a_waiver_silences_the_key_until_it_expires(waived_scan, days, status):
    config, scanned = waived_scan
    found = copy.deepcopy(scanned)
    (aws,) = [f for f in found if f.rule_id == "AWS Access Key"]
    security = load_config(config, environ={}).security
    (use,) = policy.evaluate(found, security, TODAY + timedelta(days=-days))
    assert (aws.status, use.matched) == (status, 1)
    assert ("waiver expired" in aws.note) == (status == FAILING)


def test_a_waiver_names_a_secret_by_its_hash_and_only_in_its_path(tmp_path, planted_baseline):
    root, out = tmp_path / "repo", tmp_path / "out"
    config = planted_tree(root)
    write_baseline(root, without_results(planted_baseline))
    commit_all(root, "baseline")
    (aws,) = [f for f in scan(config, out).findings if f.rule_id == "AWS Access Key"]
    hashed, original = aws.extra["hashed_secret"], config.read_text()
    for path, status in (("settings.py", WAIVED), ("other/*.py", FAILING)):
        (root / "pyproject.toml").write_text(
            original + waiver(hashed, path, TODAY + timedelta(days=7))
        )
        found = scan(config, out).findings
        policy.evaluate(found, load_config(config, environ={}).security, TODAY)
        assert [f.status for f in found if f.rule_id == "AWS Access Key"] == [status]


def test_a_missing_baseline_is_a_config_error_telling_how_to_make_one(tmp_path):
    config = planted_tree(tmp_path / "repo")
    with pytest.raises(ConfigError, match=r"no secrets baseline .secrets.baseline.*audit"):
        scan(config, tmp_path / "out")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ("[]", "top level is list"),
        ('{"version": "1.5.0", "plugins_used": [], "filters_used": []}', "no 'results'"),
    ],
)
def test_a_malformed_baseline_is_a_config_error_naming_it(tmp_path, text, message):
    root = tmp_path / "repo"
    config = planted_tree(root)
    (root / BASELINE).write_text(text)
    with pytest.raises(ConfigError, match=rf"\.secrets\.baseline is not a .*{message}"):
        scan(config, tmp_path / "out")


def test_the_baseline_key_is_configurable_and_checked(tmp_path):
    root = tmp_path / "repo"
    config = planted_tree(root, security='secrets_baseline = "ci/secrets.json"')
    make_baseline(root, is_secret=False)
    (root / "ci").mkdir()
    shutil.move(root / BASELINE, root / "ci" / "secrets.json")
    commit_all(root, "baseline")
    result = scan(config, tmp_path / "out")
    assert (result.baseline, result.findings) == ("ci/secrets.json", [])
    config.write_text(config.read_text().replace('"ci/secrets.json"', "3"))
    with pytest.raises(ConfigError, match="secrets_baseline must be"):
        load_config(config, environ={})


def test_a_baseline_detect_secrets_cannot_use_is_a_measurement_error_with_its_reason(
    tmp_path, planted_baseline
):
    root = tmp_path / "repo"
    config = planted_tree(root)
    baseline = write_baseline(root, planted_baseline)
    plugins = [*baseline["plugins_used"], {"name": "NoSuchDetector"}]
    (root / BASELINE).write_text(json.dumps({**baseline, "plugins_used": plugins}))
    commit_all(root, "baseline")
    with pytest.raises(MeasurementError, match=r"exited 1: .*No such `NoSuchDetector` plugin"):
        scan(config, tmp_path / "out")


def fake_scanner(tmp_path: Path, body: str) -> str:
    """A detect-secrets stand-in running ``body``, with $REPORT the file given to --baseline."""
    script = tmp_path / "detect-secrets"
    find_report = 'while [ "$1" != --baseline ]; do shift; done; REPORT="$2"\n'
    script.write_text("#!/bin/sh\n" + find_report + body + "\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize(
    "body, message",
    [
        ("echo 'Traceback: boom' >&2; exit 1", "detect-secrets exited 1: Traceback: boom"),
        # the copy it was given holds no results and no generated_at: not this run's report
        ("exit 0", "no 'generated_at'"),
        ('echo \'{"generated_at": "x"\' > "$REPORT"', "not valid JSON"),
        ('echo "[1]" > "$REPORT"', "top level is list"),
        (': > "$REPORT"', "is empty"),
    ],
)
def test_a_crash_or_garbage_output_is_a_measurement_error(
    tmp_path, monkeypatch, planted_baseline, body, message
):
    root = tmp_path / "repo"
    config = planted_tree(root)
    write_baseline(root, without_results(planted_baseline))
    commit_all(root, "baseline")
    monkeypatch.setattr(secret_scan, "scanner_command", lambda: [fake_scanner(tmp_path, body)])
    with pytest.raises(MeasurementError, match=message):
        scan(config, tmp_path / "out")


def test_a_scanner_that_cannot_start_or_hangs_is_a_measurement_error(
    tmp_path, monkeypatch, planted_baseline
):
    root = tmp_path / "repo"
    config = planted_tree(root)
    write_baseline(root, without_results(planted_baseline))
    commit_all(root, "baseline")
    monkeypatch.setattr(secret_scan, "scanner_command", lambda: [str(tmp_path / "absent")])
    with pytest.raises(MeasurementError, match="detect-secrets could not start"):
        scan(config, tmp_path / "out")
    # The least timeout there is, for the scanner that hangs (the scan's two git calls before
    # it have the same second each: plenty for a tiny repository on a busy machine).
    config.write_text(
        config.read_text().replace(
            "[tool.pipeline.security]\n", "[tool.pipeline.security]\nscanner_timeout = 1\n"
        )
    )
    monkeypatch.setattr(
        secret_scan, "scanner_command", lambda: [fake_scanner(tmp_path, "exec sleep 30")]
    )
    with pytest.raises(MeasurementError, match="detect-secrets did not finish within 1 s"):
        scan(config, tmp_path / "out")


def test_no_git_tree_no_tracked_files_or_a_subdirectory_is_a_measurement_error(
    tmp_path, planted_baseline
):
    root = tmp_path / "repo"
    config = make_project(root)
    write_baseline(root, without_results(planted_baseline))
    with pytest.raises(MeasurementError, match="is not a git work tree"):
        scan(config, tmp_path / "out")
    git(root, "init", "-q")
    with pytest.raises(MeasurementError, match="git tracks no files"):
        scan(config, tmp_path / "out")
    inner = root / "inner"
    inner_config = make_project(inner)
    write_baseline(inner, without_results(planted_baseline))
    commit_all(root)
    with pytest.raises(MeasurementError, match="not its top"):
        scan(inner_config, tmp_path / "out")
