"""The edge of a swarm environment: HAProxy in front of the service, part of the environment.

Swarm's routing mesh needs IPVS, which many kernels (this one included) lack, and a Swarm
``--publish`` cannot bind one address. So each environment gets an attachable overlay network
``<stack>-net`` and, on it, a plain container ``<stack>-edge`` running HAProxy
(``[tool.pipeline.engine] edge_image``), published on the environment's URL
(``-p 127.0.0.1:PORT:8080`` here) and restarted with the engine. HAProxy finds the service's
tasks through Docker's DNS (``tasks.<stack>``, the service uses ``--endpoint-mode dnsrr``),
re-resolves every second, sends traffic only to tasks whose ``/ready`` answers 200, and
retries a request that found a task gone (``retry-on all-retryable-errors``, ``option
redispatch``). With Swarm taking a task out of DNS before stopping it and the service
draining on SIGTERM, a rolling update loses no request.

The configuration is passed in the container's environment and written by its command, so
it works the same on a remote engine; a changed configuration recreates the container.

The edge is part of the environment's desired state. Created by the first deploy, it is
ensured by every command that holds the environment (deploy, its no-op included, rollback,
drill, status when it settles): started if it stopped, created if it was removed, recreated
if it does not answer ``/edge-health``. The engine restarts it after a crash (``--restart
unless-stopped``), not after ``docker kill``/``stop`` or a removal: the next command does. A
deploy also heals it while it waits for Swarm and while it verifies the release through the
URL (``heal``), so a dead edge is repaired, never mistaken for a bad release. ``gates down``
removes it with the network.
"""

import time
from collections.abc import Callable

from gates import httpget
from gates.outcome import ConfigError, MeasurementError
from gates.targets.swarm.configured import CONFIG_ENV, keep_container, run_configured
from gates.targets.swarm.environment import EDGE_PORT, SERVICE_PORT, STACK_LABEL, SwarmEnvironment

CONFIG_LABEL = "gates.edge-config"
CONFIG_PATH = "/tmp/gates-edge.cfg"  # nosec B108: inside the edge's own container
HEALTH_PATH = "/edge-health"
REPLICA_HEADER = "X-Gates-Replica"
# Seconds an edge that runs may stay silent on /edge-health before it is recreated: it may be
# starting, or the machine busy. A bound on a wait, not a pace: an answer ends it at once.
ANSWER_GRACE = 5.0
HEALTH_TIMEOUT = 2.0  # s: one /edge-health request
START_TIMEOUT = 30.0  # s: a new edge has this long to answer (a bound on a hang)
TEMPLATE = """\
global
    maxconn 4096
    log stdout format raw local0 warning

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 15s
    timeout server {try_timeout}s
    timeout queue 5s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
    default-server init-addr none

resolvers docker
    nameserver dns 127.0.0.11:53
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold other 5s
    hold refused 5s
    hold nx 5s
    hold timeout 5s
    hold valid 1s
    hold obsolete 1s
    accepted_payload_size 8192

frontend edge
    bind :{edge_port}
    monitor-uri {health_path}
    default_backend app

backend app
    balance roundrobin
    # Which task answered a /metrics scrape, so the SLO gate can sum over every replica.
    http-request set-var(txn.metrics) int(1) if {{ path /metrics }}
    http-response set-header {replica_header} %si:%sp if {{ var(txn.metrics) -m int 1 }}
    option httpchk GET /ready
    http-check expect status 200
    timeout check 3s
    server-template task {slots} tasks.{service}:{service_port} check inter 1s fall 2 rise 2 \
resolvers docker resolve-prefer ipv4
"""


def render(env: SwarmEnvironment) -> str:
    # A start-first update runs up to twice the replicas at once.
    slots = max(4, 2 * env.replicas)
    return TEMPLATE.format(
        replica_header=REPLICA_HEADER,
        edge_port=EDGE_PORT,
        health_path=HEALTH_PATH,
        slots=slots,
        try_timeout=f"{env.settings.edge_try_timeout:g}",
        service=env.service,
        service_port=SERVICE_PORT,
    )


class EdgeDown(MeasurementError):
    """The edge does not serve and could not be repaired (exit 3: what is behind it was not
    judged). The message names the edge's container and what was wrong with it."""


class Edge:
    def __init__(self, env: SwarmEnvironment) -> None:
        self.env, self.docker = env, env.docker

    def ensure(
        self, say: Callable[[str], object], problem: str = "", with_service: bool = False
    ) -> None:
        """The network and a running edge with today's configuration that answers
        /edge-health: started if it stopped, created if missing, recreated if it does not
        answer within ANSWER_GRACE s. EdgeDown if it cannot be made to answer; ``problem``
        (what was found wrong) is then part of the message. ``with_service``: the service
        exists, so an edge that was not answering is waited for until it reaches a ready
        task (its servers come up after a DNS look-up and two health checks)."""
        env = self.env
        answered = self.health_error() is None
        if self.docker.inspect("network", env.network) is None:
            say(f"creating the overlay network {env.network}")
            self.docker.run(
                "network", "create", "--driver", "overlay", "--attachable",
                "--label", f"{STACK_LABEL}={env.stack}", env.network,
            )  # fmt: skip
        config = render(env)
        if keep_container(self.docker, env.edge, CONFIG_LABEL, config, f"the edge {env.edge}", say):
            silent = self.wait_answer(ANSWER_GRACE)
            if silent is None:
                if with_service and not answered:
                    self.wait_for_tasks(say)
                return
            say(f"the edge {env.edge} runs but does not answer {HEALTH_PATH} ({silent}): "
                "recreating it")  # fmt: skip
            problem = problem or f"running, but {HEALTH_PATH} did not answer: {silent}"
            self.docker.run("container", "rm", "--force", env.edge)
        image = env.config.engine.edge_image
        if not image:
            raise ConfigError(
                f"environment {env.name} runs on swarm but [tool.pipeline.engine] edge_image is "
                'not set; set it to an HAProxy image, e.g. edge_image = "haproxy:2.6"'
            )
        say(f"starting the edge {env.edge} ({image}) on {env.base_url}")
        run_configured(
            self.docker,
            env.edge,
            image,
            ("--network", env.network, "--publish", env.publish,
             "--label", f"{STACK_LABEL}={env.stack}"),
            CONFIG_LABEL,
            config,
            f'printf "%s" "${CONFIG_ENV}" > {CONFIG_PATH} && '
            f"exec haproxy -W -db -f {CONFIG_PATH}",
            timeout=float(env.config.build.timeout),  # may pull the image
        )  # fmt: skip
        self.wait_serving(problem=problem)
        if with_service:
            self.wait_for_tasks(say)

    def wait_for_tasks(self, say: Callable[[str], object]) -> None:
        """Wait up to START_TIMEOUT s for /ready through the edge to answer 200 (a task is
        up behind it); if none is, say so and go on: judging the service is not the edge's
        business (the deploy's verification and status do it)."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpget.fetch("/ready", self.env.base_url, timeout=HEALTH_TIMEOUT)[0] == 200:
                    return
            except httpget.FAILURES:
                pass  # said below if it lasts
            if time.monotonic() >= deadline:
                say(f"the edge {self.env.edge} reaches no ready task within {START_TIMEOUT:g} s")
                return
            time.sleep(0.2)

    def health_error(self) -> str | None:
        """Why /edge-health does not answer 200 now; None when it does."""
        try:
            status = httpget.fetch(HEALTH_PATH, self.env.base_url, timeout=HEALTH_TIMEOUT)[0]
        except httpget.FAILURES as exc:
            return f"{type(exc).__name__}: {exc}"
        return None if status == 200 else f"it answered {status}"

    def problem(self) -> str | None:
        """What is wrong with the edge, from its container and /edge-health; None when it
        answers."""
        silent = self.health_error()
        if silent is None:
            return None
        found = self.docker.inspect("container", self.env.edge)
        if found is None:
            return f"the edge {self.env.edge} was removed"
        state = found.get("State") or {}
        if not state.get("Running"):
            return (
                f"the edge {self.env.edge} is {state.get('Status', 'not running')} "
                f"(exit code {state.get('ExitCode', '?')})"
            )
        return f"the edge {self.env.edge} runs but {HEALTH_PATH} does not answer ({silent})"

    def heal(self, say: Callable[[str], object]) -> str | None:
        """Repair the edge if it does not answer /edge-health now (``ensure``); what was wrong
        with it, or None when it answered. EdgeDown if it cannot be repaired."""
        problem = self.problem()
        if problem is None:
            return None
        say(f"{problem}: repairing it")
        self.ensure(say, problem, with_service=True)
        return problem

    def wait_answer(self, timeout: float) -> str | None:
        """None once /edge-health answers 200 within ``timeout`` s; else why it did not."""
        deadline = time.monotonic() + timeout
        while True:
            silent = self.health_error()
            if silent is None or time.monotonic() >= deadline:
                return silent
            time.sleep(0.2)

    def wait_serving(self, problem: str = "") -> None:
        """Return once /edge-health answers; EdgeDown naming the edge, ``problem`` (what was
        wrong before) and its log's last lines if it does not within START_TIMEOUT s."""
        timeout = START_TIMEOUT
        silent = self.wait_answer(timeout)
        if silent is None:
            return
        logs = self.docker.run("container", "logs", "--tail", "3", self.env.edge, check=False)
        found = f"{problem}; " if problem else ""
        raise EdgeDown(
            f"the edge {self.env.edge} does not answer on {self.env.base_url} within "
            f"{timeout:g} s ({found}{silent}); its log: "
            f"{(logs.stderr or logs.stdout).strip()[-300:]}"
        )

    def remove(self, timeout: float = 60.0) -> None:
        """Remove the edge, then the network once the service's tasks have left it."""
        self.docker.run("container", "rm", "--force", self.env.edge, check=False)
        deadline = time.monotonic() + timeout
        while self.docker.inspect("network", self.env.network) is not None:
            done = self.docker.run("network", "rm", self.env.network, check=False)
            if done.returncode == 0:
                return
            if time.monotonic() >= deadline:
                raise MeasurementError(
                    f"the network {self.env.network} is still in use after {timeout:g} s: "
                    f"{done.stderr.strip()}"
                )
            time.sleep(0.5)
