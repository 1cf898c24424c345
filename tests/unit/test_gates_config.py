"""Pipeline configuration: found, parsed and validated with clear messages."""

import json
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

import gates.config
from gates.config import TABLE, EnvironmentConfig, PipelineConfig, as_json, json_schema, load_config
from gates.outcome import ConfigError
from support.pipeline_project import make_project


def test_loads_project_config_with_defaults(tmp_path):
    path = make_project(tmp_path)
    config = load_config(path, environ={})
    assert config.root == tmp_path
    assert config.state_dir == tmp_path / ".pipeline"
    assert config.service == "mini"
    assert config.lint.paths == ("mini.py", "tests")
    assert config.test.suites == {"test": ()}  # one suite, every test, by default
    assert config.test.junit_xml("test") == tmp_path / ".pipeline" / "reports" / "junit-test.xml"
    assert config.test.coverage_fail_under == 90.0


def test_found_from_a_subdirectory(tmp_path, monkeypatch):
    make_project(tmp_path)
    monkeypatch.delenv("PIPELINE_CONFIG", raising=False)
    config = load_config(start=tmp_path / "tests", environ={})
    assert config.path == tmp_path / "pyproject.toml"


def test_state_dir_environment_variable_wins(tmp_path):
    config = load_config(make_project(tmp_path), environ={"PIPELINE_STATE_DIR": "/tmp/elsewhere"})
    assert str(config.state_dir) == "/tmp/elsewhere"


def test_repository_config_is_valid():
    config = load_config(start=Path(__file__).parent, environ={})
    assert config.service == "techcorp-api"
    assert config.test.coverage_fail_under >= 90
    # the suites split the tests by cost; the coverage decision covers both
    assert set(config.test.suites) == {"test", "e2e"}
    assert config.test.suites["e2e"][0] == "tests/e2e"
    assert "tests/e2e" not in config.test.suites["test"]


def rewrite(path, old, new):
    path.write_text(path.read_text().replace(old, new))


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('service = "mini"', 'service = "mini"\nstat_dir = "x"', "unknown key 'stat_dir'"),
        ('service = "mini"\n', "", "required key 'service' is missing"),
        ('service = "mini"', "service = 3", "service must be a non-empty str"),
        ('service = "mini"', 'service = "  "', "service must be a non-empty str"),
        ('paths = ["mini.py", "tests"]', "paths = []", "paths must be a non-empty list"),
        ('paths = ["mini.py", "tests"]', "paths = [1]", "paths must be a non-empty list"),
        ("[tool.pipeline.lint]", "[tool.pipeline.lynt]", "unknown key 'lynt'"),
        ('service_dir = "service"', 'service_dir = "nowhere"', "has no pyproject.toml"),
        ("fail_under = 90", "fail_under = 120", "fail_under must be a number 0-100"),
        ("fail_under = 90", "", "fail_under is not set"),
        ('service = "mini"', 'service = "mini', "not valid TOML"),
        (
            "[tool.pipeline.lint]",
            "[tool.pipeline.test]\nsuites = {}\n[tool.pipeline.lint]",
            "suites must map suite names",
        ),
        (
            "[tool.pipeline.lint]",
            "[tool.pipeline.test.suites]\nunit = []\n[tool.pipeline.lint]",
            "suites must map suite names \\(test, e2e\\)",
        ),
        (
            "[tool.pipeline.lint]",
            '[tool.pipeline.test.suites]\ne2e = "-m e2e"\n' "[tool.pipeline.lint]",
            "lists of pytest arguments",
        ),
    ],
)
def test_invalid_config_is_refused_naming_file_and_key(tmp_path, old, new, message):
    path = make_project(tmp_path)
    rewrite(path, old, new)
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, environ={})
    assert str(path) in str(caught.value)


def test_section_that_is_not_a_table(tmp_path):
    path = make_project(tmp_path)
    rewrite(path, "[tool.pipeline.lint]\npaths", "lint = 3\n[tool.other]\npaths")
    with pytest.raises(ConfigError, match="lint] must be a table"):
        load_config(path, environ={})


def test_missing_file_and_no_table(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml", environ={})
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    with pytest.raises(ConfigError, match=r"no \[tool.pipeline\] table"):
        load_config(tmp_path / "pyproject.toml", environ={})
    with pytest.raises(ConfigError, match="no pyproject.toml with a"):
        load_config(start=tmp_path, environ={})


WAIVER = """
[[tool.pipeline.security.waivers]]
scanner = "bandit"
id = "B602"
path = "mini.py"
reason = "fixed argv"
expires = 2027-01-31
"""


def test_security_policy_and_waivers_load(tmp_path):
    config = load_config(make_project(tmp_path, security=WAIVER), environ={})
    assert config.security.bandit_fail_severity == "HIGH"
    assert config.security.safety_fail_severity == "ANY"
    (waiver,) = config.security.waivers
    assert (waiver.scanner, waiver.id, waiver.target, str(waiver.expires)) == (
        "bandit",
        "B602",
        "mini.py",
        "2027-01-31",
    )


@pytest.mark.parametrize(
    "security, message",
    [
        ('bandit_fail_severity = "SEVERE"', "bandit_fail_severity must be one of LOW, MEDIUM"),
        ('safety_fail_severity = "high"\nscanner_timeout = 0', "scanner_timeout must be a whole"),
        (WAIVER.replace('scanner = "bandit"', 'scanner = "trivy"'), "bandit or safety"),
        (WAIVER.replace('path = "mini.py"', 'package = "x"'), "unknown key 'package'"),
        (WAIVER.replace('reason = "fixed argv"\n', ""), "missing key 'reason'"),
        (WAIVER.replace("2027-01-31", '"soon"'), "expires must be a date like"),
        (WAIVER.replace('id = "B602"', "id = 602"), "id must be a non-empty string"),
    ],
)
def test_invalid_security_policy_is_refused(tmp_path, security, message):
    path = make_project(tmp_path, security=security)
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_json_schema_describes_every_table_and_refuses_unknown_keys():
    schema = json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    tables = {"lint", "test", "security", "build", "deploy", "environments", "slo", "perf"}
    assert tables <= set(schema["properties"])
    assert set(schema["required"]) == {"service", "service_dir"}
    assert all(table["additionalProperties"] is False for table in schema["$defs"].values())
    validator = Draft202012Validator(schema)
    repository = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["pipeline"]
    assert not list(validator.iter_errors(repository))
    assert list(validator.iter_errors({**repository, "perf": {"rat": 3}}))
    assert list(validator.iter_errors({**repository, "environments": {"x": {"port": 80}}}))


def test_config_as_json_shows_what_was_loaded(tmp_path):
    config = load_config(make_project(tmp_path, security=WAIVER), environ={})
    shown = json.loads(as_json(config))
    assert shown["path"] == str(tmp_path / "pyproject.toml")
    assert shown["state_dir"] == str(tmp_path / ".pipeline")
    assert shown["lint"]["paths"] == ["mini.py", "tests"]
    assert shown["test"]["coverage_fail_under"] == 90.0
    assert shown["environments"]["staging"]["port"] == 18101
    assert shown["security"]["waivers"][0]["expires"] == "2027-01-31"


def declared_keys():
    """(table, key) for every key of every table; the environments as one, "staging"."""
    tables = {TABLE: PipelineConfig, f"{TABLE}.environments.staging": EnvironmentConfig}
    for key, declared in PipelineConfig.model_fields.items():
        if isinstance(declared.annotation, type) and issubclass(declared.annotation, BaseModel):
            tables[f"{TABLE}.{key}"] = declared.annotation
    return [
        (t, key)
        for t, model in tables.items()
        for key in model.model_fields
        if f"{t}.{key}" not in tables
    ]


@pytest.mark.parametrize("table, key", declared_keys())
def test_a_wrong_value_anywhere_is_one_line_naming_file_table_and_key(
    tmp_path, monkeypatch, table, key
):
    path = make_project(tmp_path)
    document = tomllib.loads(path.read_text())
    where = document
    for name in table.split("."):
        where = where.setdefault(name, {})
    where[key] = [[1]]  # of no key's type
    monkeypatch.setattr(gates.config, "_read_toml", lambda _: document)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path} [{table}]: {key}")
