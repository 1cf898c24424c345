"""The build manifest records the security report only when it speaks for this build: the
same commit, a clean tree, the same pinned requirements."""

import json

import pytest

from gates.release.build import _security_mismatch

COMMIT = "a" * 40
PINS = "b" * 64


def report(tmp_path, **details):
    values = {"commit": COMMIT, "worktree_dirty": False, "requirements_sha256": PINS}
    path = tmp_path / "security.json"
    path.write_text(json.dumps({"outcome": "passed", "details": {**values, **details}}))
    return path


def test_a_report_of_this_commit_and_these_pins_is_recorded(tmp_path):
    assert _security_mismatch(report(tmp_path), COMMIT, PINS) == ""


@pytest.mark.parametrize(
    "details, reason",
    [
        ({"commit": "c" * 40}, "it is of commit cccccccccccc, this build is of aaaaaaaaaaaa"),
        ({"commit": None}, "it is of commit None"),
        ({"worktree_dirty": True}, "uncommitted changes"),
        ({"requirements_sha256": "d" * 64}, "audited other requirements"),
    ],
)
def test_a_report_of_anything_else_is_not(tmp_path, details, reason):
    assert reason in _security_mismatch(report(tmp_path, **details), COMMIT, PINS)


def test_no_report_or_a_foreign_file_is_not_recorded(tmp_path):
    assert "does not exist" in _security_mismatch(tmp_path / "security.json", COMMIT, PINS)
    (tmp_path / "security.json").write_text('{"outcome": "passed"}')
    assert "not a security report" in _security_mismatch(tmp_path / "security.json", COMMIT, PINS)


def test_the_shipped_requirements_are_the_release_file_without_the_service_itself(tmp_path):
    from gates.release.locked_requirements import pins, shipped

    release = tmp_path / "requirements.txt"
    release.write_text(
        "flask==3.1.2 \\\n    --hash=sha256:aa\n    --hash=sha256:bb\n"
        "techcorp-api==0.1.0 \\\n    --hash=sha256:cc\n"
    )
    locked = shipped(release, "techcorp-api", tmp_path / "out.txt")
    assert pins(locked.text) == [("flask", "3.1.2")]
    assert locked.text == "flask==3.1.2 \\\n    --hash=sha256:aa\n    --hash=sha256:bb\n"
    assert (tmp_path / "out.txt").read_text() == locked.text


def test_a_requirements_file_given_by_hand_that_pins_nothing_is_a_usage_error(tmp_path):
    from gates.release.locked_requirements import read
    from gates.outcome import ConfigError

    given = tmp_path / "notes.txt"
    given.write_text("flask\njust words\n")
    with pytest.raises(ConfigError, match=r"--requirements .*notes.txt pins no package"):
        read(given)
