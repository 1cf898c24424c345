"""The CI summary job holds every stage's report but no deploy key: ``gates summary`` prints
the whole table from the reports and says why it cannot tell where production stands, rather
than failing when the swarm engine does not answer there."""

import json

from gates import cli
from support.pipeline_project import make_project


def test_summary_prints_the_table_and_says_production_cannot_be_reached(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("PIPELINE_STATE_DIR", raising=False)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    config = make_project(tmp_path)
    config.write_text(
        config.read_text()
        + '\n[tool.pipeline.environments.production]\nport = 18102\ntarget = "swarm"\n'
        + 'url = "http://127.0.0.1:18180"\n'
        + f'\n[tool.pipeline.engine]\ndocker_host = "unix://{tmp_path}/no-engine.sock"\n'
    )
    reports = tmp_path / ".pipeline" / "reports"
    reports.mkdir(parents=True)
    (reports / "lint.json").write_text(
        json.dumps(
            {
                "outcome": "passed",
                "started_at": "2026-01-01T00:00:00+00:00",
                "finished_at": "2026-01-01T00:00:07+00:00",
                "checks": [{"name": "black", "passed": True, "measured": "0 finding(s)"}],
                "details": {},
            }
        )
    )

    code = cli.main(["--config", str(config), "summary"])

    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "Traceback" not in err
    assert "| lint | passed | 7 s | 1/1 checks passed |" in out
    assert "| test | not run | | |" in out
    production = [line for line in out.splitlines() if line.startswith("production:")]
    assert len(production) == 1 and "no-engine.sock" in production[0], out
