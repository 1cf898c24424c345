"""A swarm environment's own Prometheus, without an engine: its settings, the configuration
it is given (checked by promtool itself), the rules it loads, and ``engine up``'s plan for
its image. The running thing is tests/e2e/test_swarm_prometheus.py."""

import json
import subprocess
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import yaml

from gates.slo import rules as slo_rules
from gates.config import load_config
from gates.engine.survey import State, plan
from gates.outcome import ConfigError, MeasurementError
from gates.targets.request import Release
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.prometheus import (
    RULES_PATH,
    EnvironmentPrometheus,
    release_rules,
    render,
    rule_names,
)
from support.canned_http import canned_http
from support.pipeline_project import make_project
from support.promtool import promtool_binary

SWARM = 'target = "swarm"\nurl = "http://127.0.0.1:18080"\n'


def project(tmp_path, staging="", engine=""):
    path = make_project(tmp_path)
    text = path.read_text().replace(
        "[tool.pipeline.environments.staging]\nport = 18101\n",
        "[tool.pipeline.environments.staging]\nport = 18101\n" + staging,
    )
    path.write_text(text + engine)
    return load_config(path, environ={"PIPELINE_STATE_DIR": str(tmp_path / "state")})


def test_its_port_makes_it_the_slo_gates_prometheus(tmp_path):
    config = project(tmp_path, SWARM + "prometheus_port = 19090\n")
    staging = config.environment("staging")
    assert (staging.prometheus_port, staging.prometheus_url) == (19090, "http://127.0.0.1:19090")
    env = SwarmEnvironment(config, "staging")
    assert (env.prometheus, env.history) == (
        "mini-staging-prometheus",
        "mini-staging-prometheus-data",
    )
    assert config.engine.prometheus_image == "gates-prometheus:2.42"


def test_an_explicit_prometheus_url_still_wins(tmp_path):
    staging = project(
        tmp_path, SWARM + 'prometheus_port = 19090\nprometheus_url = "http://10.0.0.5:9090"\n'
    ).environment("staging")
    assert staging.prometheus_url == "http://10.0.0.5:9090"


def test_without_a_port_there_is_none_and_scrape_mode_stays(tmp_path):
    staging = project(tmp_path, SWARM).environment("staging")
    assert (staging.prometheus_port, staging.prometheus_url) == (0, "")


def test_a_local_environment_cannot_have_one(tmp_path):
    with pytest.raises(ConfigError, match="prometheus_port runs a Prometheus beside a swarm") as e:
        project(tmp_path, "prometheus_port = 19090\n")
    assert "\n" not in str(e.value)


def test_it_finds_the_tasks_by_dns_and_loads_the_rules_from_its_volume(tmp_path):
    config = project(tmp_path, SWARM + 'stack = "shop-prod"\nprometheus_port = 19090\n')
    rendered = yaml.safe_load(render(SwarmEnvironment(config, "staging")))
    (job,) = rendered["scrape_configs"]
    assert job["job_name"] == "shop-prod"
    assert job["dns_sd_configs"] == [
        {"names": ["tasks.shop-prod"], "type": "A", "port": 8000, "refresh_interval": "2s"}
    ]
    interval = rendered["global"]["scrape_interval"]
    assert interval.endswith("s") and 1 <= int(interval[:-1]) <= 5
    assert rendered["global"]["evaluation_interval"] == interval
    assert rendered["rule_files"] == [RULES_PATH]
    assert RULES_PATH.startswith("/prometheus/")  # in the history volume


def test_promtool_accepts_the_configuration(tmp_path):
    promtool = promtool_binary()
    config = project(tmp_path, SWARM + "prometheus_port = 19090\n")
    path = tmp_path / "prometheus.yml"
    # The rules path exists only inside the container: point it at a real rule file here.
    rules = tmp_path / "slo-rules.yml"
    rules.write_text(release_rules(config, Release(tmp_path / "none", {"release_id": "r"})))
    path.write_text(render(SwarmEnvironment(config, "staging")).replace(RULES_PATH, str(rules)))
    done = subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_the_rules_are_the_releases_own(tmp_path):
    config = project(tmp_path)
    release_dir = tmp_path / "rel"
    release_dir.mkdir()
    (release_dir / slo_rules.RULES_FILE).write_text("groups: []\n# the release's\n")
    manifest = {"release_id": "r", "slo_rules": {"path": slo_rules.RULES_FILE}}
    assert release_rules(config, Release(release_dir, manifest)).endswith("# the release's\n")


def test_a_release_without_rules_gets_the_objectives_rules(tmp_path):
    config = project(tmp_path)
    text = release_rules(config, Release(tmp_path / "gone", {"release_id": "r"}))
    names = {name for _, name in rule_names(text)}
    assert "SLOBurnRateFastBurn" in names and "slo:objective:ratio" in names


def test_engine_up_builds_and_pushes_its_image_when_missing(tmp_path):
    path = make_project(tmp_path)
    path.write_text(
        path.read_text()
        + '[tool.pipeline.engine]\ndocker_host = "unix:///run/t/docker.sock"\n'
        + 'registry = "127.0.0.1:15999"\nedge_image = "127.0.0.1:15999/edge:1"\n'
        + 'prometheus_image = "127.0.0.1:15999/prom:1"\n'
    )
    engine = load_config(path, environ={}).engine
    without = State("20.10", "", "active", None, True, True, True, False, False)
    todo = plan(engine, without)
    assert (todo.build_prometheus, todo.push_prometheus, todo.build_edge) == (True, True, False)
    assert "no prometheus image" in without.lacking()
    built = State("20.10", "", "active", None, True, True, True, True, False)
    assert (plan(engine, built).build_prometheus, plan(engine, built).push_prometheus) == (
        False,
        True,
    )
    everything = State("20.10", "", "active", None, True, True, True, True, True)
    assert everything.ready() and not plan(engine, everything).push_prometheus


def test_a_machine_that_only_builds_needs_no_prometheus_image(tmp_path):
    engine = load_config(make_project(tmp_path), environ={}).engine
    without = State("20.10", "", "inactive", None, True, True, True, False, False)
    assert without.ready(swarm=False)
    todo = plan(engine, without, swarm=False)
    assert not todo.build_prometheus and not todo.push_prometheus


class Logs:
    """The one Docker call a wait that timed out makes: the container's last log lines."""

    def run(self, *args, check=True):
        return subprocess.CompletedProcess(args, 0, 'level=info msg="replaying WAL"\n', "")


def waiting(url):
    env = SimpleNamespace(
        docker=Logs(),
        settings=SimpleNamespace(prometheus_port=urlsplit(url).port),
        prometheus="mini-staging-prometheus",
    )
    return EnvironmentPrometheus(env)


def test_it_waits_through_not_ready_and_for_exactly_the_rules_loaded():
    asked = []

    def answer(method, path, headers):
        asked.append(path)
        if path == "/-/ready":
            ready = asked.count(path) > 2  # replaying its write-ahead log twice
            return (200, {}, b"Ready.") if ready else (503, {}, b"Service Unavailable")
        groups = [{"name": "g", "rules": [{"name": "r1"}, {"name": "r2"}]}]
        return 200, {}, json.dumps({"status": "success", "data": {"groups": groups}}).encode()

    with canned_http(answer) as url:
        prometheus = waiting(url)
        prometheus.wait_ready(timeout=30)
        prometheus.wait_rules([("g", "r2"), ("g", "r1")], timeout=30)
        with pytest.raises(MeasurementError) as caught:
            prometheus.wait_rules([("g", "r1")], timeout=1)
    assert asked.count("/-/ready") == 3
    assert str(caught.value).startswith(
        f"mini-staging-prometheus did not list the 1 rules just loaded on {url} within 1 s"
    )


def test_an_answer_that_is_not_the_api_is_retried_then_named():
    def answer(method, path, headers):
        return 200, {}, b"<html>a proxy's page</html>"

    with canned_http(answer) as url:
        with pytest.raises(MeasurementError) as caught:
            waiting(url).wait_rules([("g", "r1")], timeout=1)
    line = str(caught.value)
    assert "\n" not in line and "did not list the 1 rules just loaded" in line
    assert f"(Prometheus at {url} did not answer /api/v1/rules with JSON" in line
    assert 'its log: level=info msg="replaying WAL"' in line
