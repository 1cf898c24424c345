"""Reports: JSON + Markdown files, the step summary, and the exit-code convention."""

import json

from gates.report import Report


def test_all_checks_passing_is_exit_0(tmp_path):
    report = Report("demo")
    report.add("latency", True, "120 ms", "<= 200 ms", "scrape")
    assert (report.exit_code, report.outcome) == (0, "passed")


def test_one_failing_check_is_exit_1(tmp_path):
    report = Report("demo")
    report.add("a", True, "1")
    report.add("b", False, "2", "1")
    assert (report.exit_code, report.outcome) == (1, "failed")


def test_no_checks_is_never_a_pass():
    assert Report("demo").exit_code == 3


def test_error_overrides_passing_checks():
    report = Report("demo")
    report.add("a", True, "1")
    report.fail(3, "scanner crashed")
    assert (report.exit_code, report.outcome) == (3, "could not measure")


def test_writes_json_markdown_and_step_summary(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier job\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = Report("demo")
    report.add("p95 | latency", False, "250 ms", "<= 200 ms", "perf.json")
    json_path, md_path = report.write(tmp_path / "reports")

    data = json.loads(json_path.read_text())
    assert data["stage"] == "demo" and data["exit_code"] == 1 and data["outcome"] == "failed"
    assert data["checks"][0] == {
        "name": "p95 | latency",
        "passed": False,
        "measured": "250 ms",
        "limit": "<= 200 ms",
        "source": "perf.json",
    }
    markdown = md_path.read_text()
    assert "### ❌ demo: failed" in markdown
    assert "| p95 \\| latency | **FAIL** | 250 ms | <= 200 ms | perf.json |" in markdown
    assert summary.read_text() == "earlier job\n" + markdown + "\n"


def test_markdown_says_why_it_could_not_judge(tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report = Report("demo")
    report.fail(3, "bandit report is empty")
    _, md_path = report.write(tmp_path)
    assert "**Could not judge:** bandit report is empty" in md_path.read_text()
    assert "No checks ran" in Report("x").to_markdown()
