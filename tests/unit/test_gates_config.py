"""Pipeline configuration: found, parsed and validated with clear messages."""

import json
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

import gates.config
from gates.config import TABLE, EnvironmentConfig, PipelineConfig, as_json, json_schema, load_config
from gates.outcome import ConfigError
from support.json_schema import jsonschema
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
    # the suites split the tests by cost; the coverage decision covers all of them
    assert set(config.test.suites) == {"test", "e2e", "faults"}
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
            "suites must map suite names \\(test, e2e, faults\\)",
        ),
        (
            "[tool.pipeline.lint]",
            '[tool.pipeline.test.suites]\ne2e = "-m e2e"\n' "[tool.pipeline.lint]",
            "lists of pytest arguments",
        ),
        (
            "[tool.pipeline.lint]",
            '[tool.pipeline.build]\ncontainer_engine = "Auto"\n[tool.pipeline.lint]',
            r"build\]: container_engine must name the engine: docker, podman or none; \"auto\" is",
        ),
        (
            "[tool.pipeline.lint]",
            '[tool.pipeline.build]\ncontainer_engine = "k8s"\n[tool.pipeline.lint]',
            "container_engine must be one of docker, podman or none, got 'k8s'",
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
    assert config.security.dependency_fail_severity == "ANY"
    (waiver,) = config.security.waivers
    assert (waiver.scanner, waiver.id, waiver.target, str(waiver.expires)) == (
        "bandit",
        "B602",
        "mini.py",
        "2027-01-31",
    )


def test_a_source_s_own_advisory_age_bound_replaces_the_general_one_for_it_alone(tmp_path):
    security = "max_advisory_age = 20\nmax_advisory_age_by_source = { safety = 45 }\n"
    config = load_config(make_project(tmp_path, security=security), environ={}).security
    assert [config.max_age(name) for name in ("safety", "pip-audit", "osv")] == [45, 20, 20]


@pytest.mark.parametrize(
    "security, message",
    [
        ('bandit_fail_severity = "SEVERE"', "bandit_fail_severity must be one of LOW, MEDIUM"),
        (
            'dependency_fail_severity = "high"\nscanner_timeout = 0',
            "scanner_timeout must be a whole",
        ),
        (
            WAIVER.replace('scanner = "bandit"', 'scanner = "trivy"'),
            "scanner must be bandit, dependencies, safety, pip-audit, osv or detect-secrets",
        ),
        (WAIVER.replace('path = "mini.py"', 'package = "x"'), "unknown key 'package'"),
        (WAIVER.replace('reason = "fixed argv"\n', ""), "missing key 'reason'"),
        (WAIVER.replace("2027-01-31", '"soon"'), "expires must be a date like"),
        (WAIVER.replace('id = "B602"', "id = 602"), "id must be a non-empty string"),
        (
            'advisory_sources = ["safety", "trivy"]',
            'advisory_sources must be a non-empty list of "safety", "pip-audit", "osv", got',
        ),
        ("advisory_sources = []", "advisory_sources must be a non-empty list"),
        ("max_advisory_age = 0", "max_advisory_age must be"),
        (
            "max_advisory_age_by_source = { trivy = 45 }",
            'max_advisory_age_by_source must map "safety", "pip-audit" or "osv" to a whole',
        ),
        ("max_advisory_age_by_source = { safety = 0 }", "max_advisory_age_by_source must map"),
        ('max_advisory_age_by_source = { safety = "45" }', "max_advisory_age_by_source must map"),
        ('safety_db_url = "ftp://mirror/"', "safety_db_url must be an http.s. URL"),
        ('osv_api_url = "api.osv.dev"', "osv_api_url must be empty or an http.s. URL"),
        ('pip_audit_service = "nvd"', "pip_audit_service must be"),
    ],
)
def test_invalid_security_policy_is_refused(tmp_path, security, message):
    path = make_project(tmp_path, security=security)
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_json_schema_describes_every_table_and_refuses_unknown_keys():
    schema = json_schema()
    validator_class = jsonschema().Draft202012Validator
    validator_class.check_schema(schema)
    assert schema["additionalProperties"] is False
    tables = {"lint", "test", "security", "build", "deploy", "environments", "slo", "perf"}
    assert tables <= set(schema["properties"])
    assert set(schema["required"]) == {"service", "service_dir"}
    assert all(table["additionalProperties"] is False for table in schema["$defs"].values())
    validator = validator_class(schema)
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


# Values that once passed validation and failed later, or harmed the host.


@pytest.mark.parametrize("state_dir", ["mini.py", "mini.py/below"])
def test_a_state_dir_that_cannot_be_a_directory_is_refused(tmp_path, state_dir):
    path = make_project(tmp_path)
    rewrite(path, 'service = "mini"', f'service = "mini"\nstate_dir = "{state_dir}"')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    message = str(caught.value)
    assert message.startswith(f"{path} [{TABLE}]: state_dir ")
    assert f"{tmp_path / 'mini.py'} is a file, not a directory" in message


def test_a_state_dir_override_that_is_a_file_is_refused_naming_the_variable(tmp_path):
    path = make_project(tmp_path)
    with pytest.raises(
        ConfigError, match=r"state_dir \(from \$PIPELINE_STATE_DIR\) .* is a file, not a directory"
    ):
        load_config(path, environ={"PIPELINE_STATE_DIR": str(tmp_path / "mini.py")})


@pytest.mark.parametrize("name", ["../../x", "a/b", "Staging", "-x", ".hidden", "x" * 64, ""])
def test_environment_names_must_be_simple_names(tmp_path, name):
    path = make_project(tmp_path)
    rewrite(path, "[tool.pipeline.environments.staging]", f"[tool.pipeline.environments.{name!r}]")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(
        f"{path} [{TABLE}.environments]: {name!r} must be a simple name"
    )


@pytest.mark.parametrize("name", ["staging", "prod-eu_2", "0", "x" * 63])
def test_simple_environment_names_are_accepted(tmp_path, name):
    path = make_project(tmp_path)
    rewrite(path, "[tool.pipeline.environments.staging]", f"[tool.pipeline.environments.{name!r}]")
    assert load_config(path, environ={}).environment(name).name == name


def test_workers_are_bounded(tmp_path):
    path = make_project(tmp_path)
    rewrite(path, "port = 18101", "port = 18101\nworkers = 100000")
    with pytest.raises(ConfigError, match="workers must be a whole number 1-64, got 100000"):
        load_config(path, environ={})


TIMEOUTS = [
    ("deploy", "preflight_timeout", 600),
    ("deploy", "cutover_timeout", 600),
    ("deploy", "lock_timeout", 3600),
    ("build", "timeout", 3600),
    ("security", "scanner_timeout", 3600),
    ("slo", "probe_max_seconds", 600),
    ("perf", "duration", 3600),
]


@pytest.mark.parametrize("table, key, most", TIMEOUTS)
def test_every_timeout_has_an_upper_bound(tmp_path, table, key, most):
    if table == "security":  # the miniature project has this table already
        path = make_project(tmp_path, security=f"{key} = {most}")
    else:
        path = make_project(tmp_path)
        rewrite(
            path,
            "[tool.coverage.run]",
            f"[tool.pipeline.{table}]\n{key} = {most}\n[tool.coverage.run]",
        )
    load_config(path, environ={})  # the bound itself is allowed
    rewrite(path, f"{key} = {most}", f"{key} = {10**17}")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"{path} [{TABLE}.{table}]: {key} must be a whole number 1-{most}, got {10**17}"
    )


@pytest.mark.parametrize("window", ["1e17s", "100000000000000000", "7h", "soon", "0s"])
def test_the_slo_window_is_a_bounded_duration(tmp_path, window):
    path = make_project(tmp_path)
    rewrite(
        path,
        "[tool.coverage.run]",
        f'[tool.pipeline.slo]\nwindow = "{window}"\n[tool.coverage.run]',
    )
    with pytest.raises(ConfigError, match=rf"\[{TABLE}.slo\]: window must be a duration"):
        load_config(path, environ={})


SERVICE_SETTINGS = 'service_settings = "techcorp_api.settings:check_environment"'


@pytest.mark.parametrize(
    "env, message",
    [
        ('{ LOG_LEVEL = "LOUD" }', "env LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
        ('{ WEB_CONCURRENCY = "zero" }', "env WEB_CONCURRENCY='zero' is not a whole number >= 1"),
        ('{ GUNICORN_TIMEOUT = "-1" }', "env GUNICORN_TIMEOUT='-1' is not a whole number >= 1"),
        ('{ SLO_LATENCY_SECONDS = "abc" }', "env SLO_LATENCY_SECONDS must be a number of sec"),
        ('{ FAULT_ERROR_RATE = "2" }', "env FAULT_ERROR_RATE must be a number from 0 to 1"),
    ],
)
def test_the_service_env_is_checked_by_the_services_own_rules(tmp_path, env, message):
    path = make_project(tmp_path)
    rewrite(path, 'service = "mini"', f'service = "mini"\n{SERVICE_SETTINGS}')
    rewrite(path, "port = 18101", f"port = 18101\nenv = {env}")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    line = str(caught.value)
    assert line.startswith(f"{path} [{TABLE}.environments.staging]: {message}")
    assert line.endswith("(the service's rule: techcorp_api.settings:check_environment)")


def test_a_good_service_env_passes_the_services_check(tmp_path):
    path = make_project(tmp_path)
    rewrite(path, 'service = "mini"', f'service = "mini"\n{SERVICE_SETTINGS}')
    rewrite(
        path, "port = 18101", 'port = 18101\nenv = { LOG_LEVEL = "debug", WEB_CONCURRENCY = "3" }'
    )
    assert load_config(path, environ={}).environment("staging").env["LOG_LEVEL"] == "debug"


def test_without_a_service_settings_hook_the_env_is_not_checked(tmp_path):
    path = make_project(tmp_path)
    rewrite(path, "port = 18101", 'port = 18101\nenv = { LOG_LEVEL = "LOUD" }')
    assert load_config(path, environ={}).environment("staging").env == {"LOG_LEVEL": "LOUD"}


@pytest.mark.parametrize(
    "hook, message",
    [
        ("no_such_module:check", "cannot load 'no_such_module:check' (ModuleNotFoundError"),
        ("techcorp_api.settings:nothing", "cannot load 'techcorp_api.settings:nothing' (Attrib"),
        ("techcorp_api.settings:LOG_LEVELS", "'techcorp_api.settings:LOG_LEVELS' is not callable"),
        ("techcorp_api.settings", "must name a callable as module:function"),
    ],
)
def test_a_service_settings_hook_that_cannot_be_loaded_is_one_line(tmp_path, hook, message):
    path = make_project(tmp_path)
    rewrite(path, 'service = "mini"', f'service = "mini"\nservice_settings = "{hook}"')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path} [{TABLE}]: service_settings {message}")


def test_the_repository_checks_its_service_env_with_the_services_rules():
    config = load_config(start=Path(__file__).parent, environ={})
    assert config.service_settings == "techcorp_api.settings:check_environment"


@pytest.mark.parametrize(
    "name, module, message",
    [
        (
            "buggy_hook",
            "def check(env):\n    raise RuntimeError('bug\\nin check')\n",
            "could not be",
        ),
        ("broken_hook", "def check(env:\n", r"cannot load .broken_hook:check. \(SyntaxError"),
    ],
)
def test_a_service_check_that_breaks_is_still_one_line(
    tmp_path, monkeypatch, name, module, message
):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / f"{name}.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path / "hooks"))
    path = make_project(tmp_path)
    rewrite(path, 'service = "mini"', f'service = "mini"\nservice_settings = "{name}:check"')
    rewrite(path, "port = 18101", 'port = 18101\nenv = { A = "b" }')
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(path, environ={})
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["0", "-1", "601", '"2"'])
def test_the_local_verify_seconds_are_bounded(tmp_path, value):
    path = make_project(tmp_path)
    rewrite(
        path,
        "[tool.coverage.run]",
        f"[tool.pipeline.deploy]\nverify_seconds = {value}\n[tool.coverage.run]",
    )
    with pytest.raises(ConfigError, match=r"\[tool\.pipeline\.deploy\]: verify_seconds must be"):
        load_config(path, environ={})


@pytest.mark.parametrize("value, seconds", [("0.5", 0.5), ("600", 600.0), (None, 2.0)])
def test_the_local_verify_seconds_default_to_2(tmp_path, value, seconds):
    path = make_project(tmp_path)
    if value is not None:
        rewrite(
            path,
            "[tool.coverage.run]",
            f"[tool.pipeline.deploy]\nverify_seconds = {value}\n[tool.coverage.run]",
        )
    assert load_config(path, environ={}).deploy.verify_seconds == seconds


# Environments that would fight over the engine's names or a port: refused, naming both.

SWARM_AT = 'target = "swarm"\nurl = "http://{host}:{port}"\n'


def with_environments(tmp_path, staging, production):
    """The project with these keys added to staging (port 18101) and a production (18102)."""
    path = make_project(tmp_path)
    rewrite(path, "port = 18101\n", f"port = 18101\n{staging}")
    path.write_text(
        path.read_text() + f"\n[{TABLE}.environments.production]\nport = 18102\n{production}"
    )
    return path


def swarm(port, host="127.0.0.1", extra=""):
    return SWARM_AT.format(host=host, port=port) + extra


@pytest.mark.parametrize(
    "staging, production, message",
    [
        (
            swarm(18080, extra='stack = "web"\n'),
            swarm(18081, extra='stack = "web"\n'),
            "production]: stack 'web' is also staging's stack (the name of its service, edge and "
            "history in the engine): each environment needs its own",
        ),
        (  # the default stack, <service>-<name>, against a chosen one
            swarm(18080),
            swarm(18081, extra='stack = "mini-staging"\n'),
            "production]: stack 'mini-staging' is also staging's stack",
        ),
        (
            swarm(18080),
            swarm(18080),
            "production]: url port 18080 on 127.0.0.1 is also staging's url port: each "
            "environment needs its own",
        ),
        (  # a host name publishes the edge on every interface
            swarm(18080, host="staging.example.com"),
            swarm(18080),
            "production]: url port 18080 on 127.0.0.1 is also staging's url port",
        ),
        (
            swarm(18080),
            swarm(18081, extra="prometheus_port = 18080\n"),
            "production]: prometheus_port 18080 is also staging's url port",
        ),
        (
            swarm(18080, extra="prometheus_port = 19090\n"),
            swarm(18081, extra="prometheus_port = 19090\n"),
            "production]: prometheus_port 19090 is also staging's prometheus_port",
        ),
        (
            swarm(18080, extra="prometheus_port = 18080\n"),
            "",
            "staging]: prometheus_port 18080 is also its own url port",
        ),
        (  # a local environment's port against a swarm one's url and Prometheus
            "",
            swarm(18101),
            "production]: url port 18101 on 127.0.0.1 is also staging's port",
        ),
        (
            "",
            swarm(18081, extra="prometheus_port = 18101\n"),
            "production]: prometheus_port 18101 is also staging's port",
        ),
    ],
)
def test_environments_that_collide_are_refused_naming_both(tmp_path, staging, production, message):
    path = with_environments(tmp_path, staging, production)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    said = str(caught.value)
    assert said.startswith(f"{path} [{TABLE}.environments.") and "\n" not in said
    assert message in said, said


def test_environments_sharing_a_port_key_are_refused_naming_both(tmp_path):
    path = with_environments(tmp_path, "", "")
    rewrite(path, "port = 18102", "port = 18101")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value) == (
        f"{path} [{TABLE}.environments.production]: port 18101 is also staging's port: each "
        "environment needs its own"
    )


@pytest.mark.parametrize(
    "staging, production",
    [
        (swarm(18080), swarm(18081)),  # default stacks differ: mini-staging, mini-production
        (swarm(18080, host="127.0.0.2"), swarm(18080)),  # one port on two addresses
        (swarm(18080, extra="prometheus_port = 19090\n"), swarm(18081)),
    ],
)
def test_environments_kept_apart_are_accepted(tmp_path, staging, production):
    config = load_config(with_environments(tmp_path, staging, production), environ={})
    assert set(config.environments) == {"staging", "production"}
