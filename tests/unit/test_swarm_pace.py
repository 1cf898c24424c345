"""A swarm environment's pace as configuration: ``update_monitor``, ``health_start_period``
and ``prometheus_interval`` (gates.config.models.EnvironmentConfig), validated on load, with
production's defaults, and what the rollout and its Prometheus are then given. The e2e
scenarios set them short (tests/support/swarm.py)."""

import pytest
import yaml

from gates.config import load_config
from gates.outcome import ConfigError
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.prometheus import render
from gates.targets.swarm.service import rollout
from support.pipeline_project import make_project

SWARM = 'target = "swarm"\nurl = "http://127.0.0.1:18080"\nprometheus_port = 19090\n'


def project(tmp_path, staging):
    path = make_project(tmp_path)
    text = path.read_text().replace(
        "[tool.pipeline.environments.staging]\nport = 18101\n",
        "[tool.pipeline.environments.staging]\nport = 18101\n" + staging,
    )
    path.write_text(text)
    return path


def loaded(tmp_path, staging):
    path = project(tmp_path, staging)
    return load_config(path, environ={"PIPELINE_STATE_DIR": str(tmp_path / "state")})


def flags(arguments):
    """{flag: value} of a ``docker service create/update`` argument list."""
    return dict(zip(arguments[::2], arguments[1::2]))


def test_the_defaults_are_productions_pace(tmp_path):
    config = loaded(tmp_path, SWARM)
    staging = config.environment("staging")
    assert (staging.update_monitor, staging.health_start_period, staging.prometheus_interval) == (
        5.0,
        15.0,
        2.0,
    )
    given = flags(rollout(staging))
    assert given["--update-monitor"] == given["--rollback-monitor"] == "5s"
    assert given["--health-start-period"] == "15s" and given["--health-interval"] == "1s"
    rendered = yaml.safe_load(render(SwarmEnvironment(config, "staging")))
    assert rendered["global"] == {
        "scrape_interval": "2s",
        "scrape_timeout": "2s",
        "evaluation_interval": "2s",
    }
    assert rendered["scrape_configs"][0]["dns_sd_configs"][0]["refresh_interval"] == "2s"


def test_a_rehearsal_sets_a_faster_pace(tmp_path):
    config = loaded(
        tmp_path,
        SWARM + "update_monitor = 1\nhealth_start_period = 8\nprometheus_interval = 0.5\n",
    )
    staging = config.environment("staging")
    given = flags(rollout(staging))
    assert given["--update-monitor"] == "1s"
    assert given["--health-start-period"] == "8s"
    assert flags(rollout(staging, "rollback"))["--health-start-period"] == "8s"
    rendered = yaml.safe_load(render(SwarmEnvironment(config, "staging")))
    assert set(rendered["global"].values()) == {"0.5s"}
    assert rendered["scrape_configs"][0]["dns_sd_configs"][0]["refresh_interval"] == "0.5s"


def test_a_deploy_goes_one_task_at_a_time_and_a_rollback_in_one_step(tmp_path):
    """A deploy replaces one task at a time and watches each (update_monitor); a rollback
    (gates rollback, the drill's restore) returns to a known good release: every task at once,
    no monitor, health checked twice as often with twice the retries (a task that never gets
    ready is given up as late: 3 s). Swarm's own rollback of a deploy goes a task at a time
    too, so the rollback_started message that names the failed task is seen; of a rollback,
    in one step."""
    staging = loaded(tmp_path, SWARM).environment("staging")
    deploy, rollback = flags(rollout(staging, "deploy")), flags(rollout(staging, "rollback"))
    assert flags(rollout(staging)) == deploy
    assert (deploy["--update-parallelism"], deploy["--update-monitor"]) == ("1", "5s")
    assert (rollback["--update-parallelism"], rollback["--update-monitor"]) == ("0", "1ms")
    assert (deploy["--rollback-parallelism"], deploy["--rollback-monitor"]) == ("1", "5s")
    assert (rollback["--rollback-parallelism"], rollback["--rollback-monitor"]) == ("0", "1ms")
    for given in (deploy, rollback):
        assert given["--update-order"] == given["--rollback-order"] == "start-first"
        assert given["--update-failure-action"] == "rollback"
    assert (deploy["--health-interval"], deploy["--health-retries"]) == ("1s", "3")
    assert (rollback["--health-interval"], rollback["--health-retries"]) == ("0.5s", "6")
    unchanged = {"--health-cmd", "--health-timeout", "--health-start-period", "--stop-grace-period"}
    assert {k: deploy[k] for k in unchanged} == {k: rollback[k] for k in unchanged}


@pytest.mark.parametrize("key", ["update_monitor", "health_start_period", "prometheus_interval"])
@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "must be a number 0.5-600, got 0"),
        ("0.1", "must be a number 0.5-600, got 0.1"),
        ("601", "must be a number 0.5-600, got 601"),
        ('"5s"', "must be a number"),
        ("true", "must be a number"),
    ],
)
def test_a_pace_out_of_bounds_is_refused_naming_the_key(tmp_path, key, value, message):
    path = project(tmp_path, SWARM + f"{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    text = str(caught.value)
    assert "\n" not in text and "[tool.pipeline.environments.staging]" in text
    assert f"{key} " in text and message in text, text


@pytest.mark.parametrize(
    "setting",
    [
        "update_monitor = 1",
        "health_start_period = 1",
        "prometheus_interval = 1",
        "edge_try_timeout = 1",
        'spread_over = "node.id"',
    ],
)
def test_a_local_environment_has_no_pace_or_placement_to_set(tmp_path, setting):
    path = project(tmp_path, f"{setting}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    key = setting.split(" ")[0]
    assert f"{key} sets a swarm environment only" in str(caught.value)


@pytest.mark.parametrize("value", ['"node.role"', '"zone"', '"node.labels."', "1"])
def test_a_spread_over_anything_but_a_node_attribute_is_refused(tmp_path, value):
    path = project(tmp_path, SWARM + f"spread_over = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert "spread_over must be node.id, node.hostname, node.labels.<label>" in str(caught.value)
