"""The environment's Swarm service: how it is specified, what it runs, how an update ends,
and why Swarm rolled one back.

Every deploy is one ``docker service create`` or ``update`` of the whole spec: the image by
digest (``--no-resolve-image``), the service's environment, labels naming the release and
deployment, the health check on ``/ready``, and the rollout policy (start-first both ways; a
deploy one task at a time, rolled back on failure within a monitor period, the environment's
``update_monitor``; a rollback in one step: see ``rollout``). The
CLI's exit code says nothing about the outcome (it exits 0 after Swarm's own rollback): the
outcome is the service's UpdateStatus, polled until it is final, and its tasks.
"""

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gates.config import EnvironmentConfig
from gates.docker import DockerRefused
from gates.targets.request import Kind
from gates.targets.swarm.environment import SERVICE_PORT, STACK_LABEL, SwarmEnvironment

RELEASE_LABEL = "gates.release"
DEPLOYMENT_LABEL = "gates.deployment"
# Every task of a deployment carries it, so any new deployment changes the task template
# (and a config-only deploy is a rolling update like any other).
DEPLOYMENT_VARIABLE = "GATES_DEPLOYMENT"
# The health check prints one line when it fails: Docker keeps it as the container's reason.
# bash's /dev/tcp, not python: a check costs about 3 ms of CPU instead of 50 (measured), and
# it runs every second in every task. The release images are Debian-based (bash is there).
HEALTH_SCRIPT = (
    f"exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/{SERVICE_PORT}"
    f' || {{ echo "not ready: nothing listens on :{SERVICE_PORT}"; exit 1; }}; '
    'printf "GET /ready HTTP/1.0\\r\\n\\r\\n" >&3; '
    'read -r -t 4 line <&3 || { echo "not ready: no answer from /ready within 4 s"; exit 1; }; '
    'line=${line%?}; case "$line" in *" 200 "*) exit 0;; esac; '
    'echo "not ready: /ready answered ${line#* }"; exit 1'
)
HEALTH_CMD = f"bash -c '{HEALTH_SCRIPT}'"


# A container is healthy at its first passing check, however long the start period; the
# period only delays the verdict on one that never gets ready (start period + its retries of
# checks). The monitor and the start period are the environment's (update_monitor,
# health_start_period).
#
# A deploy replaces one task at a time and watches each for the monitor period: a release
# that fails late is caught while most tasks still run the old one. A rollback (the kind
# "rollback": `gates rollback`, the drill's restore) returns to a release known good there, so
# it goes back in one step: every task at once, start-first (the old tasks serve until the new
# ones are healthy), no monitor, and health checked twice as often with twice the retries (a
# task is healthy sooner; one that never gets ready is given up as late as before). Swarm's own
# rollback (a failed update, the pipeline's undo) goes at the pace of the update it undoes.
FAST_HEALTH_INTERVAL = 0.5  # s: a rollback's health checks (docker.io 20.10 takes >= 1 ms)
# "No monitor" is the shortest one Docker keeps: it stores a monitor of 0 as its default, 5 s
# (measured on docker.io 20.10: `--update-monitor 0s` is inspected back as 5000000000).
NO_MONITOR = "1ms"
HEALTH_INTERVAL = 1.0  # s: a deploy's
HEALTH_RETRIES = 3  # failed checks before a deploy's task is unhealthy: 3 s


def rollout(settings: EnvironmentConfig, kind: Kind = "deploy") -> list[str]:
    """The health check and rollout policy of a create or update of ``kind``."""
    monitor = f"{settings.update_monitor:g}s"
    one_step = kind == "rollback"
    interval = FAST_HEALTH_INTERVAL if one_step else HEALTH_INTERVAL
    retries = round(HEALTH_RETRIES * HEALTH_INTERVAL / interval)
    return [
        "--health-cmd", HEALTH_CMD,
        "--health-interval", f"{interval:g}s",
        "--health-timeout", "5s",
        "--health-retries", str(retries),
        "--health-start-period", f"{settings.health_start_period:g}s",
        "--update-order", "start-first",
        "--update-failure-action", "rollback",
        "--update-monitor", NO_MONITOR if one_step else monitor,
        "--update-parallelism", "0" if one_step else "1",
        "--update-max-failure-ratio", "0",
        "--rollback-order", "start-first",
        # Swarm's own rollback of a deploy goes a task at a time, as before: its
        # rollback_started message names the task that failed (the deploy's reason), which a
        # one-step rollback ends too fast to show. A rollback-kind update is one step itself.
        "--rollback-monitor", NO_MONITOR if one_step else monitor,
        "--rollback-parallelism", "0" if one_step else "1",
        "--rollback-failure-action", "continue",
        "--stop-grace-period", "25s",
    ]  # fmt: skip


def placement(settings: EnvironmentConfig, flag: str) -> list[str]:
    """The service's placement preference (``spread_over``) given with ``flag``."""
    return [flag, f"spread={settings.spread_over}"] if settings.spread_over else []


FINAL = ("completed", "rollback_completed", "paused", "rollback_paused")
ROLLED_BACK = ("rollback_completed", "rollback_paused", "rollback_started")
# A task's CurrentState once it can no longer run ("Shutdown 3 seconds ago", ...).
ENDED = ("Shutdown", "Failed", "Complete", "Rejected", "Orphaned", "Remove")
TASK_IN_MESSAGE = re.compile(r"task ([a-z0-9]{25})")
POLL = 0.25


# What the managers answer while they have no leader (the leader lost, a partition healing):
# measured on docker.io 20.10 with three managers, for about 10 s after the leader's loss.
LEADERLESS = re.compile(
    r"does not have a leader|DeadlineExceeded|context deadline exceeded|code = Unavailable"
)
ELECTION_TIMEOUT = 60.0  # s: the longest a leaderless swarm is waited for (measured: ~10-34 s)


class Election:
    """The wait while Swarm's managers elect a leader: an update goes on meanwhile (its spec is
    in the raft log), so a poll that finds no leader is tried again, for up to
    ELECTION_TIMEOUT s; anything else the engine refuses is raised at once."""

    def __init__(self, say: Callable[[str], object]) -> None:
        self.say = say
        self.since: float | None = None

    def wait(self, refused: DockerRefused) -> None:
        if not LEADERLESS.search(str(refused)):
            raise refused
        now = time.monotonic()
        if self.since is None:
            self.since = now
            self.say(f"swarm: no leader ({refused.said}); waiting for the managers to elect one")
        elif now - self.since > ELECTION_TIMEOUT:
            raise DockerRefused(
                f"the swarm had no leader for {ELECTION_TIMEOUT:g} s (a majority of its "
                f"managers lost?): {refused.said}"
            ) from None
        time.sleep(POLL * 4)

    def over(self) -> None:
        if self.since is not None:
            self.say(f"swarm: a leader answers again after {time.monotonic() - self.since:.1f} s")
            self.since = None


def idle() -> None:
    """Nothing to watch while waiting for Swarm."""


@dataclass(frozen=True)
class Spec:
    """What the service is specified to run now."""

    image: str
    release_id: str
    deployment: str
    replicas: int
    env_keys: tuple[str, ...]
    spread: tuple[str, ...]  # its placement preferences, as --placement-pref takes them
    update_state: str | None  # None: no update since it was created (or its spec changed)
    update_message: str


@dataclass(frozen=True)
class Outcome:
    state: str  # completed, rollback_completed, ... or "converged" for a new service
    reason: str = ""  # why it was rolled back or failed


class Service:
    def __init__(self, env: SwarmEnvironment) -> None:
        self.env, self.docker, self.name = env, env.docker, env.service

    def spec(self) -> Spec | None:
        found = self.docker.inspect("service", self.name)
        if found is None:
            return None
        spec = found["Spec"]
        labels = spec.get("Labels") or {}
        container = spec["TaskTemplate"]["ContainerSpec"]
        status = found.get("UpdateStatus") or {}
        return Spec(
            container["Image"],
            labels.get(RELEASE_LABEL, ""),
            labels.get(DEPLOYMENT_LABEL, ""),
            int(spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 0)),
            tuple(v.split("=", 1)[0] for v in container.get("Env") or ()),
            tuple(
                f"spread={p['Spread']['SpreadDescriptor']}"
                for p in (spec["TaskTemplate"].get("Placement") or {}).get("Preferences") or ()
                if "Spread" in p
            ),
            status.get("State"),
            status.get("Message", ""),
        )

    def update_status(self) -> dict[str, Any]:
        out = self.docker.run(
            "service", "inspect", "--format", "{{json .UpdateStatus}}", self.name
        ).stdout
        found = json.loads(out or "null")
        return found if isinstance(found, dict) else {}

    def create(
        self,
        image: str,
        variables: Mapping[str, str],
        labels: Mapping[str, str],
        kind: Kind = "deploy",
    ) -> None:
        env = self.env
        self.docker.run(
            "service", "create", "--detach", "--name", self.name,
            "--network", env.network, "--endpoint-mode", "dnsrr",
            "--replicas", str(env.replicas),
            *placement(env.settings, "--placement-pref"),
            "--label", f"{STACK_LABEL}={env.stack}",
            *(a for k, v in labels.items() for a in ("--label", f"{k}={v}")),
            *(a for k, v in variables.items() for a in ("--env", f"{k}={v}")),
            *rollout(env.settings, kind), "--no-resolve-image", "--with-registry-auth", image,
        )  # fmt: skip

    def update(
        self,
        image: str,
        variables: Mapping[str, str],
        labels: Mapping[str, str],
        spec: Spec,
        kind: Kind = "deploy",
    ) -> None:
        self.docker.run(
            "service", "update", "--detach", "--no-resolve-image", "--with-registry-auth",
            "--image", image,
            "--replicas", str(self.env.replicas),
            *(a for p in spec.spread for a in ("--placement-pref-rm", p)),
            *placement(self.env.settings, "--placement-pref-add"),
            *(a for k in spec.env_keys for a in ("--env-rm", k)),
            *(a for k, v in variables.items() for a in ("--env-add", f"{k}={v}")),
            *(a for k, v in labels.items() for a in ("--label-add", f"{k}={v}")),
            *rollout(self.env.settings, kind), self.name,
        )  # fmt: skip

    def roll_back(self) -> None:
        """Swarm's own rollback to the spec before the last update (ours, just made)."""
        self.docker.run("service", "rollback", "--detach", self.name)

    def remove(self) -> None:
        self.docker.run("service", "rm", self.name, check=False)

    def tasks(self) -> list[dict[str, Any]]:
        """The service's tasks (recent history included), newest first."""
        return [
            json.loads(line)
            for line in self.docker.lines(
                "service", "ps", "--no-trunc", "--format", "{{json .}}", self.name
            )
        ]

    def running(self, image: str) -> int:
        return sum(
            1
            for t in self.tasks()
            if t["DesiredState"] == "Running"
            and t["CurrentState"].startswith("Running")
            and t["Image"] == image
        )

    def wait_update(
        self, deadline: float, say: Callable[[str], object], watch: Callable[[], object] = idle
    ) -> Outcome:
        """Follow the update just submitted (or found in progress) to its final state,
        calling ``watch`` at every poll (the deployer heals the edge meanwhile)."""
        seen: list[str] = []
        failed_task = ""
        lost: set[str] = set()  # nodes whose stalled tasks were already stepped past
        election = Election(say)
        while time.monotonic() < deadline:
            try:
                watch()
                status = self.update_status()
                state, message = status.get("State"), status.get("Message", "")
                if state in ("updating", "rollback_started"):
                    self.step_past_lost_nodes(lost, say)
            except DockerRefused as exc:
                election.wait(exc)  # raises unless the managers are electing a leader
                continue
            election.over()
            if state and (not seen or seen[-1] != state):
                say(f"swarm: {state}: {message}")
                seen.append(state)
            found = TASK_IN_MESSAGE.search(message or "")
            if state == "rollback_started" and found:
                failed_task = found.group(1)
            if state in FINAL:
                if state in ROLLED_BACK and not failed_task:  # a one-step rollback: not seen
                    failed_task = self.newest_failed_task()
                reason = self.reason(failed_task) if state in ROLLED_BACK else ""
                return Outcome(state, reason or message)
            time.sleep(POLL)
        return Outcome("timeout", f"still {seen[-1] if seen else 'pending'} when time ran out")

    def step_past_lost_nodes(self, handled: set[str], say: Callable[[str], object]) -> None:
        """Swarm's updater waits for each task it started to run or fail, but a task on a node
        that went down does neither until the node returns (measured: an update stuck for
        minutes on a task "Starting" on a lost node, its new task long running elsewhere). When
        a task of the service sits on a node that is Down, the update is issued again
        (``--force``): the new updater starts from the live tasks and leaves the lost node out.
        Once per lost node (``handled``)."""
        down = {n for n, status in self.node_states().items() if status == "Down"} - handled
        if not down:  # the usual poll: one `node ls`, no task list
            return
        stuck = sorted(
            {
                str(t.get("Node"))
                for t in self.tasks()
                if t.get("Node") in down and not t["CurrentState"].startswith(ENDED)
            }
        )
        if not stuck:
            return
        handled.update(stuck)
        say(
            f"swarm: the update waits on tasks on {', '.join(stuck)}, which Swarm sees Down: "
            "issuing it again so it goes on with the live nodes"
        )
        self.docker.run("service", "update", "--detach", "--force", self.name)

    def node_states(self) -> dict[str, str]:
        """{hostname: Ready | Down | Unknown} of the swarm's nodes."""
        lines = self.docker.lines("node", "ls", "--format", "{{.Hostname}} {{.Status}}")
        return dict(line.split(" ", 1) for line in lines if " " in line)

    def wait_new(
        self,
        image: str,
        deadline: float,
        say: Callable[[str], object],
        watch: Callable[[], object] = idle,
    ) -> Outcome:
        """Follow a just created service until its replicas run and answer /ready, calling
        ``watch`` at every poll."""
        while time.monotonic() < deadline:
            watch()
            tasks = self.tasks()
            running = [
                t
                for t in tasks
                if t["DesiredState"] == "Running" and t["CurrentState"].startswith("Running")
            ]
            if len(running) >= self.env.replicas:
                return Outcome("converged")
            failed = [t for t in tasks if t["DesiredState"] == "Shutdown" and t["Image"] == image]
            if failed:
                return Outcome("failed", self.reason(failed[0]["ID"]))
            time.sleep(POLL)
        return Outcome("timeout", f"{self.env.replicas} replicas not running when time ran out")

    def newest_failed_task(self) -> str:
        """The task whose failure made Swarm roll back, when the rollback ended before a poll
        saw it start ("" if none): among the shut-down tasks of the image Swarm shut down
        last, one with an error (a crash), else the first (a task that never got ready; later
        ones may be restarts shut down before they ran)."""
        stopped = [t for t in self.tasks() if t["DesiredState"] == "Shutdown"]
        if not stopped:
            return ""
        same = [t for t in stopped if t["Image"] == stopped[0]["Image"]]
        failed = [t for t in same if t.get("Error")] or same[-1:]
        return str(failed[0]["ID"])

    def reason(self, task_id: str) -> str:
        """Why a task failed, in one line: its error (and the service's last error line), or
        the output of its last failed health check."""
        if not task_id:
            return ""
        task = self.docker.inspect("task", task_id) or {}
        status = task.get("Status", {})
        error = status.get("Err", "")
        container = status.get("ContainerStatus", {}).get("ContainerID", "")
        health = self._health_output(container) if container else ""
        if health and (not error or "non-zero exit (0)" in error or "unhealthy" in error):
            return f"never ready: {health}"
        if error:
            logged = self._error_line(task_id)
            return f"{error}" + (f" ({logged})" if logged else "")
        return f"task {status.get('State', '?')}: {status.get('Message', '')}".strip()

    def _health_output(self, container: str) -> str:
        try:
            found = self.docker.inspect("container", container)
        except DockerRefused:
            return ""  # on another node, or gone: the task's error will do
        log = ((found or {}).get("State", {}).get("Health") or {}).get("Log") or []
        failed = [str(e.get("Output", "")).strip() for e in log if e.get("ExitCode") != 0]
        # The oldest kept failure: the latest ones may be from after Swarm stopped it.
        return failed[0].splitlines()[-1] if failed and failed[0] else ""

    def _error_line(self, task_id: str) -> str:
        done = self.docker.run(
            "service", "logs", "--raw", "--tail", "60", task_id, check=False, timeout=15
        )
        lines = (done.stdout + done.stderr).splitlines()
        errors = [line.strip() for line in lines if re.search(r"\w(Error|Exception): ", line)]
        return errors[-1][:300] if errors else ""
