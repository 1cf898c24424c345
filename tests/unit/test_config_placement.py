"""Where environments live on GitHub: $PIPELINE_TARGETS laid over the file, checked by the same
models; a local environment or a loopback registry refused on a GitHub runner."""

import pytest

from gates.config import load_config
from gates.config.placement import merged, refuse_loopback_registry
from gates.outcome import ConfigError
from gates.release.image import build_release_image
from gates.report import Report
from gates.targets import target_for
from support.pipeline_project import make_project

SWARM = """
[engine]
registry = "10.231.0.2:5000"
edge_image = "10.231.0.2:5000/gates-haproxy:2.6"
[environments.staging]
target = "swarm"
url = "http://10.231.0.2:8101"
stack = "techcorp-staging"
"""
GITHUB = {"GITHUB_ACTIONS": "true"}


def loaded(tmp_path, targets, **environ):
    return load_config(make_project(tmp_path), environ={"PIPELINE_TARGETS": targets, **environ})


def test_the_variable_places_the_engine_and_the_environments(tmp_path):
    config = loaded(tmp_path, SWARM)
    staging = config.environment("staging")
    assert (staging.target, staging.url, staging.stack) == (
        "swarm",
        "http://10.231.0.2:8101",
        "techcorp-staging",
    )
    assert staging.port == 18101  # the file's keys stay
    assert config.engine.registry == "10.231.0.2:5000"
    assert config.engine.edge_image == "10.231.0.2:5000/gates-haproxy:2.6"
    assert config.engine.prometheus_image == "gates-prometheus:2.42"  # not set: the file's


@pytest.mark.parametrize("targets", ["", "  \n", "# nothing placed\n"])
def test_an_empty_variable_places_nothing(tmp_path, targets):
    assert loaded(tmp_path, targets).environment("staging").target == "local"


@pytest.mark.parametrize(
    "targets, message",
    [
        ("[perf]\nrate = 1", r"\$PIPELINE_TARGETS: perf cannot be set there"),
        ("[engine]\ndocker_host = 'ssh://x@y'", "engine.docker_host cannot be set there"),
        ("[environments.staging]\nport = 1", "environments.staging.port cannot be set there"),
        ("[environments.staging]\nenv = {}", "environments.staging.env cannot be set there"),
        ("state_dir = '/tmp'", "state_dir cannot be set there"),
        ("[tool.pipeline.engine]\nregistry = 'x'", "without tool.pipeline, e.g. \\[engine\\]"),
        ("[environments.qa]\ntarget = 'swarm'", "environments.qa: .* declares no such environ"),
        ("engine = 3", r"\$PIPELINE_TARGETS: engine must be a table, got int"),
        ("environments = 'x'", "environments must be a table"),
        ("[environments]\nstaging = 1", "environments.staging must be a table"),
        ("[environments.staging\n", r"\$PIPELINE_TARGETS is not valid TOML"),
        (
            "[environments.staging]\ntarget = 'swarm'\nurl = 'ftp://x'",
            r"\$PIPELINE_TARGETS over .*environments.staging\]: url must be http",
        ),
        (
            "[environments.staging]\ntarget = 'k8s'",
            "target must be one of local or swarm, got 'k8s'",
        ),
        ("[engine]\nregistry = 'no spaces'", r"\$PIPELINE_TARGETS over .* registry must be"),
    ],
)
def test_anything_else_is_one_line_naming_the_variable_and_the_key(tmp_path, targets, message):
    with pytest.raises(ConfigError, match=message) as refused:
        loaded(tmp_path, targets)
    assert "\n" not in str(refused.value)
    assert "PIPELINE_TARGETS" in str(refused.value)


def test_an_error_of_the_file_is_the_files_own(tmp_path):
    path = make_project(tmp_path)
    path.write_text(path.read_text().replace("port = 18101", "port = 1"))
    with pytest.raises(ConfigError) as refused:
        load_config(path, environ={"PIPELINE_TARGETS": SWARM})
    assert str(refused.value).startswith(f"{path} [tool.pipeline.environments.staging]: port")


def test_tables_merge_key_by_key_and_the_overlay_wins():
    table = {"a": {"x": 1, "y": {"z": 2}}, "b": 3}
    assert merged(table, {"a": {"y": {"z": 4}, "w": 5}}) == {
        "a": {"x": 1, "y": {"z": 4}, "w": 5},
        "b": 3,
    }
    assert table == {"a": {"x": 1, "y": {"z": 2}}, "b": 3}  # untouched


def test_a_local_environment_is_refused_on_a_github_runner(tmp_path, monkeypatch):
    path = make_project(tmp_path)
    config = load_config(path, environ={})
    target_for(config, "staging")  # a laptop: the rehearsal
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(ConfigError) as refused:
        target_for(config, "staging")
    assert str(refused.value) == (
        'staging is a local environment (target = "local"): on a GitHub runner it would be '
        "thrown away with the runner; set the repository variable PIPELINE_TARGETS to place "
        "it (docs/ci.md#where-the-environments-live)"
    )
    placed = load_config(path, environ={"PIPELINE_TARGETS": SWARM})
    assert target_for(placed, "staging").name == "staging"  # swarm: no refusal


@pytest.mark.parametrize(
    "registry",
    ["127.0.0.1:15000", "127.1.2.3:5000/ns", "localhost:5000", "localhost"],
)
def test_a_loopback_registry_is_refused_on_a_github_runner(registry):
    refuse_loopback_registry(registry, {})
    with pytest.raises(ConfigError, match=f"the registry {registry} .* on this GitHub runner"):
        refuse_loopback_registry(registry, GITHUB)


@pytest.mark.parametrize("registry", ["10.231.0.2:5000", "ghcr.io/org", "registry.example:443"])
def test_a_registry_the_swarm_can_reach_is_not(registry):
    refuse_loopback_registry(registry, GITHUB)


def test_a_build_on_a_github_runner_does_not_push_to_its_loopback(tmp_path, monkeypatch):
    path = make_project(tmp_path)
    text = '[tool.pipeline.engine]\nregistry = "127.0.0.1:15000"\n'
    text += '[tool.pipeline.build]\ncontainer_engine = "docker"\n'
    path.write_text(path.read_text() + text)
    config = load_config(path, environ={})
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("PATH", str(tmp_path / "no-engine-here"))  # refused before it is asked
    with pytest.raises(ConfigError, match="registry 127.0.0.1:15000 .* thrown away"):
        build_release_image(config, tmp_path, "0123", 60, Report("build"))
    placed = load_config(path, environ={"PIPELINE_TARGETS": '[engine]\nregistry = "10.0.0.9:1"'})
    with pytest.raises(Exception, match="docker: not installed"):  # past the refusal
        build_release_image(placed, tmp_path, "0123", 60, Report("build"))


def test_a_runner_that_only_builds_without_an_engine_is_not_refused(tmp_path, monkeypatch):
    path = make_project(tmp_path)
    path.write_text(path.read_text() + '[tool.pipeline.engine]\nregistry = "127.0.0.1:1"\n')
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    facts = build_release_image(load_config(path, environ={}), tmp_path, "0", 60, Report("b"))
    assert facts["built"] is False  # container_engine defaults to none: nothing is pushed


def test_the_repository_places_nothing_on_github_by_itself():
    """Without the variable, every environment of this repository is local: a GitHub run
    must be given PIPELINE_TARGETS (the workflow sets it from the repository variable)."""
    config = load_config(environ={})
    assert {e.target for e in config.environments.values()} == {"local"}
