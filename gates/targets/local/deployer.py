"""Carries one deploy or rollback to a local environment: install, pre-flight, cutover,
verification through the port.

Pre-flight: the new deployment starts on a private unix socket and must keep the service's
whole contract (gates.targets.contract: smoke's checks, /api/data included), each answer
within a deadline and all within ``preflight_timeout``. A release that fails or hangs there
never takes traffic, and its server is killed at once (it has no traffic to drain).

Cutover: gunicorn's binary upgrade. ``current`` is switched to the new deployment, USR2 makes
the live master re-execute itself through ``current`` (keeping the listening socket), and
once the new master's workers are up, WINCH makes the old master stop its workers while it
keeps the socket and stays ready to start them again. Then the environment must serve the
new deployment through its real port (gates.targets.local.serving: a sustained check, every
worker heard). Only then is the deploy ``verified``, the old master stopped, and the deploy
``succeeded``. If anything fails on the way, the old master's workers are started again
(HUP), the new master is stopped and the deploy is recorded as failed with the reason; the
socket never closed, so no connection was refused.

Every wait ends as soon as its outcome is known: a new master that exits is noticed at
once. Every step is recorded in the ledger as it happens (started, switching, verified, then
succeeded or failed), so gates.targets.local.converge can finish or undo an interrupted one.
"""

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from gates import httpget, processes
from gates.config import PipelineConfig
from gates.ledger import Ledger
from gates.outcome import GateError
from gates.release.install import install, verify_installed
from gates.report import Report
from gates.targets import contract, probe
from gates.targets.contract import Deployment
from gates.targets.local import deployments, serving, spawn
from gates.targets.local.environment import LocalEnvironment
from gates.targets.local.masters import LIVE, PREFLIGHT, Master
from gates.targets.request import DeployFailed, DeployRequest, Release, ServiceConfig

QUICK_STOP = 2.0  # seconds a server that serves no one gets to stop before it is killed
ABORT_STOP = 10.0  # seconds a new master being undone gets to finish its requests


class PortInUse(GateError):
    """The environment's port is taken by a program that is not one of its masters."""


class Deployer:
    def __init__(
        self, config: PipelineConfig, env: LocalEnvironment, ledger: Ledger, report: Report
    ) -> None:
        self.config, self.env, self.ledger, self.report = config, env, ledger, report
        self.timeouts = config.deploy
        self.workers = 0

    def say(self, message: str) -> None:
        print(f"gates {self.env.name}: {message}", flush=True)

    def deploy(self, request: DeployRequest, release: Release, live: Master | None) -> None:
        """Make ``release`` with the request's service config live in place of ``live``."""
        rid, service, kind = release.id, request.service, request.kind
        key = service.deployment_key(rid)
        self.workers = service.workers
        if live is None:
            self.check_port_free()
        deploy_id: int = self.ledger.start_deploy(
            self.env.name,
            rid,
            kind,
            {"env": dict(service.env), "workers": service.workers, "key": key},
            previous=live.release_id if live else None,
            commit=release.commit,
            reason=request.reason or None,
            override=request.override_promotion,
        )
        self.report.details.update(
            release_id=rid,
            deploy_id=deploy_id,
            kind=kind,
            deployment=key,
            previous_release=live.release_id if live else None,
            previous_deployment=live.deployment if live else None,
        )
        expected = Deployment(rid, expected_version(service, release), dict(service.env))
        try:
            self.install(release)
            deployments.write(self.env.layout, self.env.name, self.env.port, rid, service)
            self.preflight(key, expected)
            if live is None:
                served = self.first_start(key, expected, deploy_id)
            else:
                served = self.cutover(live, key, expected, deploy_id)
        except GateError as exc:
            self.ledger.set_state(deploy_id, "failed", str(exc))
            raise
        self.ledger.set_state(deploy_id, "succeeded")
        self.report.add(
            kind,
            True,
            f"{key} serving on 127.0.0.1:{self.env.port}: {served}",
            f"every worker answers through the port for {self.timeouts.verify_seconds:g} s",
            f"ledger #{deploy_id}",
        )
        self.say(f"{kind} of {rid} succeeded (deployment {key}, ledger #{deploy_id})")

    def check_port_free(self) -> None:
        """With no master of ours holding the port, nothing else may: fail fast if it does."""
        with socket.socket() as probe_socket:
            # As gunicorn binds: a connection lingering in TIME_WAIT does not hold the port.
            probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe_socket.bind(("127.0.0.1", self.env.port))
            except OSError as exc:
                raise PortInUse(
                    f"127.0.0.1:{self.env.port}, the port of {self.env.name}, is in use by "
                    f"another program ({exc.strerror}); stop it or set another port in "
                    f"[tool.pipeline.environments.{self.env.name}]"
                ) from None

    def install(self, release: Release) -> None:
        """Install the release once per environment. Callers pass a release they verified
        (Release.verified); the install itself checks every wheel's hash again."""
        rid = release.id
        venv = self.env.layout.venv_for(rid)
        done_marker = venv / ".installed-by-gates"
        if done_marker.is_file():
            verify_installed(release.directory, venv)
            self.say(f"release {rid} is already installed")
            return
        # A missing marker means no install, or one that was interrupted: start afresh.
        self.say(f"installing release {rid} (offline, hashes checked)")
        install(release.directory, venv, timeout=self.config.build.timeout, verify_first=False)
        done_marker.write_text(rid + "\n")

    # pre-flight -----------------------------------------------------------------------
    def preflight(self, key: str, expected: Deployment) -> None:
        """Start the deployment on a private unix socket; it must keep the whole contract."""
        layout, rid = self.env.layout, expected.release_id
        try:
            socket_path = layout.fresh_preflight_dir() / "http.sock"
        except OSError as exc:
            raise GateError(
                f"cannot prepare the pre-flight's socket directory {layout.preflight_dir}: "
                f"{exc.strerror or exc}; remove it if it is not in use"
            ) from None
        self.say(f"pre-flight of {rid} on {socket_path}")
        deadline = time.monotonic() + self.timeouts.preflight_timeout
        process = spawn.spawn(
            layout, layout.deployment_dir(key), ["--bind", f"unix:{socket_path}"], PREFLIGHT
        )
        # Our own child: its pid cannot be reused before we reap it below.
        identity = processes.identify(process.pid)
        try:
            problem = self._preflight_problem(process, socket_path, expected, deadline)
        finally:
            if identity is not None:
                processes.stop(identity, QUICK_STOP)
            process.wait(timeout=10)
            layout.remove_master_files(process.pid)
            layout.remove_preflight_dir()
        self.report.add(
            "pre-flight",
            problem is None,
            problem or "every endpoint keeps its contract",
            f"{len(contract.CHECKS)} contract checks on a private socket, each answer within "
            f"{self.timeouts.answer_timeout} s, all within {self.timeouts.preflight_timeout} s",
            socket_path.name,
        )
        if problem:
            raise DeployFailed(
                f"release {rid} failed pre-flight and never took traffic: {problem}\n"
                f"last lines of {layout.log_path(key)}:\n{layout.log_tail(key)}"
            )

    def _preflight_problem(
        self,
        process: "subprocess.Popen[bytes]",
        socket_path: Path,
        expected: Deployment,
        deadline: float,
    ) -> str | None:
        def answered() -> probe.Answer | str | None:
            if process.poll() is not None:
                return "exited"
            if not socket_path.exists():
                return None
            ready = probe.get("/ready", unix_socket=socket_path, timeout=left(deadline, 2.0))
            return ready if ready.ok else None

        result = processes.wait_until(answered, left(deadline), 0.1)
        if result == "exited":
            return f"gunicorn exited with code {process.returncode} during start-up"
        if not isinstance(result, probe.Answer):
            last = probe.get("/ready", unix_socket=socket_path, timeout=0.5)
            seen = f"/ready answered {last.status} {last.body}" if last.status else last.error
            return f"not ready within {self.timeouts.preflight_timeout} s ({seen or 'no socket'})"
        for name, path, check in contract.CHECKS:
            timeout = left(deadline, self.timeouts.answer_timeout)
            try:
                response = httpget.fetch(path, unix_socket=socket_path, timeout=timeout)
            except httpget.FAILURES as exc:
                return f"{name}: no answer within {timeout:.3g} s ({type(exc).__name__})"
            problems = check(expected, response)
            if problems:
                return f"{name}: " + "; ".join(problems)
        return None

    # going live -----------------------------------------------------------------------
    def _serves(
        self, new: Master, expected: Deployment, deadline: float, others_may_answer: bool = False
    ) -> serving.Served:
        """serving.verify on the environment's port with the configured check timings."""
        return serving.verify(
            self.env.port,
            new,
            expected,
            deadline,
            self.timeouts.verify_seconds,
            self.timeouts.answer_timeout,
            others_may_answer=others_may_answer,
        )

    def first_start(self, key: str, expected: Deployment, deploy_id: int) -> serving.Served:
        env, rid = self.env, expected.release_id
        self.say(f"starting {env.name} on 127.0.0.1:{env.port} with {rid}")
        deadline = time.monotonic() + self.timeouts.cutover_timeout
        env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        process = spawn.spawn(env.layout, env.current)
        new = None
        try:
            new = self._registered(key, deadline, lambda: process.poll() is not None)
            self._workers_up(new, deadline)
            served = self._serves(new, expected, deadline)
        except serving.NotServing as exc:
            if new is not None:
                env.stop_master(new, ABORT_STOP)
            env.clear_current()
            raise DeployFailed(
                f"{env.name} did not start serving {rid} on port {env.port}: {exc}\n"
                + env.layout.log_tail(key)
            ) from None
        self.ledger.set_state(deploy_id, "verified")
        return served

    def cutover(
        self, old: Master, key: str, expected: Deployment, deploy_id: int
    ) -> serving.Served:
        env = self.env
        self.say(f"cutting over from {old.deployment} to {key} (gunicorn USR2 handover)")
        deadline = time.monotonic() + self.timeouts.cutover_timeout
        env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        old_workers = set(old.workers())
        if not old.signal(signal.SIGUSR2):
            self.abort(old, None, key, f"the live master {old.pid} is gone")
        try:
            new = self._registered(key, deadline, self._handover_child_exited(old, old_workers))
        except serving.NotServing as exc:
            self.abort(old, None, key, str(exc))
        try:
            self._workers_up(new, deadline)
            if old.winch_stops_workers:
                old.signal(signal.SIGWINCH)
                self._drained(old, new, deadline)
            served = self._serves(new, expected, deadline, not old.winch_stops_workers)
        except serving.NotServing as exc:
            self.abort(old, new, key, str(exc))
        self.ledger.set_state(deploy_id, "verified")
        self.say(f"{key} verified ({served}); stopping {old.deployment}")
        # TERM: the old master (no workers left, unless it ignored WINCH: then they drain)
        # closes its copy of the socket and ends; the new master keeps its own.
        env.stop_master(old, timeout=self.timeouts.cutover_timeout)
        return served

    def _registered(self, key: str, deadline: float, exited: Callable[[], bool]) -> Master:
        """The master of deployment ``key`` once it registered; NotServing if it exited
        first or did not register in time."""

        def registered() -> Master | str | None:
            found = [m for m in self.env.masters(LIVE) if m.deployment == key]
            if found:
                return found[-1]
            return "exited" if exited() else None

        found = processes.wait_until(registered, left(deadline))
        if isinstance(found, Master):
            return found
        if found == "exited":
            raise serving.NotServing("the new master exited before it registered")
        raise serving.NotServing(
            f"no new master registered within {self.timeouts.cutover_timeout} s"
        )

    @staticmethod
    def _handover_child_exited(old: Master, old_workers: set[int]) -> Callable[[], bool]:
        """Whether the process USR2 forked from ``old`` came and went (before registering).

        It is the old master's one child that is not one of its workers of before."""
        seen: set[int] = set()

        def exited() -> bool:
            now = set(old.workers()) - old_workers
            if now - seen:
                seen.update(now)
                return False
            return bool(seen) and not now

        return exited

    def _workers_up(self, new: Master, deadline: float) -> None:
        def up() -> bool | str:
            if not new.running():
                return "exited"
            return len(new.workers()) >= self.workers

        result = processes.wait_until(up, left(deadline), 0.1)
        if result == "exited":
            raise serving.NotServing("the new master exited while starting its workers")
        if not result:
            raise serving.NotServing(
                f"{len(new.workers())} of {self.workers} workers started within "
                f"{self.timeouts.cutover_timeout} s"
            )

    def _drained(self, old: Master, new: Master, deadline: float) -> None:
        """Wait for the old master's workers to finish their requests and exit."""

        def drained() -> bool | str:
            if not new.running():
                return "exited"
            return not set(old.workers()) - {new.pid}  # the new master is the old one's child

        result = processes.wait_until(drained, left(deadline), 0.05)
        if result == "exited":
            raise serving.NotServing("the new master exited while the old workers drained")
        if not result:
            raise serving.NotServing(
                f"the old workers were still busy after {self.timeouts.cutover_timeout} s"
            )

    def abort(self, old: Master, new: Master | None, key: str, problem: str) -> NoReturn:
        """The old master serves again (its workers restarted if WINCH stopped them), the
        new one stops; DeployFailed with the reason."""
        self.env.switch_current(old.deployment)
        restored = self.env.restore_workers(old, timeout=self.timeouts.cutover_timeout)
        if new is not None:
            self.env.stop_master(new, ABORT_STOP)
        outcome = (
            f"{old.deployment} kept serving"
            if restored
            else f"and {old.deployment} could not be restarted: nothing serves"
        )
        raise DeployFailed(
            f"the handover to {key} failed ({problem}); {outcome}. "
            f"Log:\n{self.env.layout.log_tail(key)}"
        )


def expected_version(service: ServiceConfig, release: Release) -> str:
    """The version the deployment must report: its APP_VERSION, else the release's."""
    return service.env.get("APP_VERSION") or str(release.manifest["service"]["version"])


def left(deadline: float, at_most: float | None = None) -> float:
    """Seconds until ``deadline`` (never below a tenth), at most ``at_most``."""
    remaining = max(deadline - time.monotonic(), 0.1)
    return remaining if at_most is None else min(remaining, at_most)
