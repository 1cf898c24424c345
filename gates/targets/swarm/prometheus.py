"""A swarm environment's own Prometheus: its traffic history, for the SLO gate and the drill.

When ``[tool.pipeline.environments.NAME] prometheus_port`` is set, the environment gets a
plain container ``<stack>-prometheus`` (``[tool.pipeline.engine] prometheus_image``) on the
stack's overlay network, like the edge, published on ``127.0.0.1:<prometheus_port>`` (the
environment's ``prometheus_url`` defaults to it) and restarted with the engine. It finds the
service's tasks by DNS service discovery (``tasks.<service>``, type A, port 8000, the names
Docker's DNS gives only healthy tasks), scrapes each task's /metrics under ``job=<stack>``
every ``prometheus_interval`` (2 s by default; DNS is refreshed as often), and evaluates the
live release's SLO rules (the release's ``slo_rules`` file, else ``gates slo-rules``' output
from the objectives).

Its TSDB and rules live in the named volume ``<stack>-prometheus-data``, so the history
outlives the runners that deploy and a recreated Prometheus. A deploy creates what is
missing and changes only what changed: a new scrape configuration (carried in the container's
environment, written by its command, so it works the same on a remote engine) recreates the
container; new rules are written into the volume and loaded with SIGHUP, without a gap in
the scrapes. ``gates down`` removes the container and keeps the volume (the environment's
history; ``docker volume rm <stack>-prometheus-data`` drops it).
"""

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from gates.slo import objectives as slo_objectives, rules as slo_rules
from gates.config import PipelineConfig
from gates.outcome import ConfigError, MeasurementError
from gates.prometheus import Prometheus
from gates.targets.request import Release
from gates.targets.swarm.configured import CONFIG_ENV, keep_container, run_configured
from gates.targets.swarm.environment import SERVICE_PORT, STACK_LABEL, SwarmEnvironment

CONFIG_LABEL = "gates.prometheus-config"
CONFIG_PATH = "/etc/gates-prometheus.yml"
DATA = "/prometheus"  # the volume: the TSDB and the rules
RULES_PATH = f"{DATA}/rules/{slo_rules.RULES_FILE}"
LISTEN_PORT = 9090  # inside its container
# The environment's prometheus_interval (default 2 s) is its scrape interval, the rules'
# evaluation interval (the gap rule allows 2.5 of them) and its DNS refresh: as often as it
# scrapes, so a stopped task fails at most a scrape or two before it is dropped (the gap rule
# takes failures spanning up to 2.5 intervals at a departure for the departure).
RETENTION = "35d"  # the SLO period (28d) and a week
READY_TIMEOUT = 60.0  # s: a large TSDB replays its write-ahead log before it is ready


def render(env: SwarmEnvironment) -> str:
    """The Prometheus configuration of ``env``: its tasks by DNS, the rules in the volume."""
    interval = f"{env.settings.prometheus_interval:g}s"
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [RULES_PATH],
        "scrape_configs": [
            {
                "job_name": env.stack,
                "metrics_path": "/metrics",
                "dns_sd_configs": [
                    {
                        "names": [f"tasks.{env.service}"],
                        "type": "A",
                        "port": SERVICE_PORT,
                        "refresh_interval": interval,
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def release_rules(config: PipelineConfig, release: Release) -> str:
    """The rule file the release carries (manifest ``slo_rules``), or, for a release built
    before it did, the rules ``gates slo-rules`` makes from today's objectives."""
    entry = release.manifest.get("slo_rules")
    if isinstance(entry, dict) and entry.get("path"):
        path = release.directory / str(entry["path"])
        if path.is_file():
            return path.read_text(encoding="utf-8")
    objectives = slo_objectives.load(config.slo.objectives)
    source: Path = config.slo.objectives
    try:
        source = source.relative_to(config.root)
    except ValueError:
        pass
    return slo_rules.render(objectives, config.slo.runbook_url, str(source))


def rule_names(text: str) -> list[tuple[str, str]]:
    """(group, record or alert name) of every rule in a rule file, in order."""
    loaded = yaml.safe_load(text) or {}
    return [
        (str(group.get("name")), str(rule.get("record") or rule.get("alert")))
        for group in loaded.get("groups") or []
        for rule in group.get("rules") or []
    ]


class EnvironmentPrometheus:
    def __init__(self, env: SwarmEnvironment) -> None:
        self.env, self.docker = env, env.docker
        self.port = env.settings.prometheus_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = Prometheus(self.url, timeout=5.0)

    @property
    def wanted(self) -> bool:
        return bool(self.port)

    def ensure(self, say: Callable[[str], object]) -> None:
        """A running Prometheus with today's scrape configuration (call once the network
        exists); created if missing, recreated if its configuration changed."""
        env = self.env
        config = render(env)
        if keep_container(self.docker, env.prometheus, CONFIG_LABEL, config, env.prometheus, say):
            self.wait_ready()
            return
        image = env.config.engine.prometheus_image
        if not image:
            raise ConfigError(
                f"environment {env.name} sets prometheus_port but [tool.pipeline.engine] "
                'prometheus_image is not set; e.g. prometheus_image = "gates-prometheus:2.42"'
            )
        say(f"starting {env.prometheus} ({image}) on {self.url}, history in {env.history}")
        run_configured(
            self.docker,
            env.prometheus,
            image,
            ("--network", env.network,
             "--publish", f"127.0.0.1:{self.port}:{LISTEN_PORT}",
             "--label", f"{STACK_LABEL}={env.stack}",
             "--mount", f"type=volume,source={env.history},target={DATA},"
             f"volume-label={STACK_LABEL}={env.stack}"),
            CONFIG_LABEL,
            config,
            f'mkdir -p {DATA}/rules && printf "%s" "${CONFIG_ENV}" > '
            f"{CONFIG_PATH} && exec prometheus --config.file={CONFIG_PATH} "
            f"--storage.tsdb.path={DATA}/data --storage.tsdb.retention.time={RETENTION} "
            f"--web.listen-address=:{LISTEN_PORT}",
            timeout=float(env.config.build.timeout),  # may pull the image
        )  # fmt: skip
        self.wait_ready()

    def load_rules(self, text: str, say: Callable[[str], object]) -> None:
        """Make ``text`` the rules Prometheus evaluates: written into the volume and loaded
        by SIGHUP when they differ from what is there; left alone when they do not."""
        name = self.env.prometheus
        there = self.docker.run("exec", name, "sha256sum", RULES_PATH, check=False)
        if there.returncode == 0 and there.stdout.split()[:1] == [digest(text)]:
            return
        say(f"loading the release's SLO rules into {name}")
        self.docker.run(
            "exec", "-i", name, "/bin/sh", "-c",
            f"cat > {RULES_PATH}.new && mv {RULES_PATH}.new {RULES_PATH}",
            stdin=text,
        )  # fmt: skip
        self.docker.run("kill", "--signal", "HUP", name)
        self.wait_rules(rule_names(text))

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        def ready() -> bool:
            self.api.ready()
            return True

        self.wait(ready, timeout, "be ready")

    def wait_rules(self, names: list[tuple[str, str]], timeout: float = 30.0) -> None:
        def loaded() -> bool:
            found = [(rule.group, rule.name) for rule in self.api.rules()]
            return sorted(found) == sorted(names)  # it lists its groups in its own order

        self.wait(loaded, timeout, f"list the {len(names)} rules just loaded")

    def wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        error = "not yet"
        while time.monotonic() < deadline:
            try:
                if done():
                    return
            except MeasurementError as exc:
                error = str(exc)
            time.sleep(0.5)
        logs = self.docker.run("container", "logs", "--tail", "3", self.env.prometheus, check=False)
        raise MeasurementError(
            f"{self.env.prometheus} did not {what} on {self.url} within {timeout:g} s "
            f"({error}); its log: {(logs.stderr or logs.stdout).strip()[-300:]}"
        )

    def remove(self) -> None:
        """The container; its volume (the history) stays."""
        self.docker.run("container", "rm", "--force", self.env.prometheus, check=False)
