"""Carries one deploy or rollback to a local environment: install, pre-flight, cutover.

The cutover is gunicorn's own binary upgrade: ``current`` is switched to the new deployment,
USR2 makes the live master re-execute itself through ``current`` (keeping the listening
socket), the new master's workers start answering beside the old ones, and once the new
release is seen serving, TERM drains the old master's workers and ends it.
Before any of that, the release is pre-flighted on a private unix socket.

Every step is recorded in the ledger as it happens (started, switching, verified, then
succeeded or failed), so gates.targets.local.converge can finish or undo an interrupted one.
"""

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import NoReturn

from gates.config import PipelineConfig
from gates.targets import probe
from gates.targets.local import deployments, masters, processes, spawn
from gates.targets.local.environment import LocalEnvironment
from gates.targets.local.masters import LIVE, PREFLIGHT, Master
from gates.targets.request import DeployFailed, DeployRequest, Release
from gates.ledger import Ledger
from gates.outcome import GateError
from gates.release.install import install, verify_installed
from gates.report import Report


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
            previous_release=live.release_id if live else None,
        )
        try:
            self.install(release)
            deployments.write(self.env.layout, self.env.name, self.env.port, rid, service)
            self.preflight(key, rid)
            if live is None:
                self.first_start(key, rid, deploy_id)
            else:
                self.cutover(live, key, rid, deploy_id)
        except GateError as exc:
            self.ledger.set_state(deploy_id, "failed", str(exc))
            raise
        self.ledger.set_state(deploy_id, "succeeded")
        served = self.env.probe("/ready")
        self.report.add(
            kind,
            served.release == rid,
            f"{rid} serving on 127.0.0.1:{self.env.port}",
            "the new release answers /ready",
            f"ledger #{deploy_id}",
        )
        self.say(f"{kind} of {rid} succeeded (ledger #{deploy_id})")

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

    def preflight(self, key: str, rid: str) -> None:
        """Start the release on a private unix socket; it must answer /health and /ready."""
        layout = self.env.layout
        # A short path: unix socket paths are limited to about 100 bytes.
        socket_dir = Path(tempfile.mkdtemp(prefix="gates-preflight-"))
        socket_path = socket_dir / "http.sock"
        self.say(f"pre-flight of {rid} on {socket_path}")
        process = spawn.spawn(
            layout, layout.deployment_dir(key), ["--bind", f"unix:{socket_path}"], PREFLIGHT
        )
        # Our own child: its pid cannot be reused before we reap it below.
        identity = processes.identify(process.pid)
        try:
            problem = self._preflight_problem(process, socket_path, rid)
        finally:
            if identity is not None:
                processes.stop(identity, 20)
            process.wait(timeout=10)
            shutil.rmtree(socket_dir, ignore_errors=True)
        self.report.add(
            "pre-flight",
            problem is None,
            problem or "/health 200, /ready 200",
            "healthy and ready on a private socket",
            str(socket_path.name),
        )
        if problem:
            raise DeployFailed(
                f"release {rid} failed pre-flight and never took traffic: {problem}\n"
                f"last lines of {layout.log_path(key)}:\n{layout.log_tail(key)}"
            )

    def _preflight_problem(
        self, process: "subprocess.Popen[bytes]", socket_path: Path, rid: str
    ) -> str | None:
        def answered() -> probe.Answer | str | None:
            if process.poll() is not None:
                return "exited"
            if not socket_path.exists():
                return None
            ready = probe.get("/ready", unix_socket=socket_path)
            return ready if ready.ok else None

        result = processes.wait_until(answered, self.timeouts.preflight_timeout, 0.1)
        if result == "exited":
            return f"gunicorn exited with code {process.returncode} during start-up"
        if not isinstance(result, probe.Answer):
            last = probe.get("/ready", unix_socket=socket_path)
            seen = f"/ready answered {last.status} {last.body}" if last.status else last.error
            return f"not ready within {self.timeouts.preflight_timeout} s ({seen or 'no socket'})"
        health = probe.get("/health", unix_socket=socket_path)
        if not health.ok or health.body.get("status") != "healthy":
            return f"/health answered {health.status} {health.body}"
        if result.release != rid:
            return f"answered as release {result.release!r}, expected {rid}"
        return None

    def first_start(self, key: str, rid: str, deploy_id: int) -> None:
        env = self.env
        self.say(f"starting {env.name} on 127.0.0.1:{env.port} with {rid}")
        env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        process = spawn.spawn(env.layout, env.current)
        master = masters.wait_for(
            env.layout.run_dir, process, LIVE, key, self.timeouts.cutover_timeout
        )
        if master is None or not self._serving(rid):
            if master is not None:
                env.stop_master(master)
            raise DeployFailed(
                f"{env.name} did not start serving {rid} on port {env.port}:\n"
                + env.layout.log_tail(key)
            )

    def _serving(self, rid: str) -> bool:
        def answered_by_release() -> bool:
            answer = self.env.probe()
            return answer.ok and answer.release == rid

        return processes.wait_until(answered_by_release, self.timeouts.cutover_timeout, 0.1)

    def cutover(self, old: Master, key: str, rid: str, deploy_id: int) -> None:
        self.say(f"cutting over from {old.release_id} to {rid} (gunicorn USR2 handover)")
        self.env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        old.signal(signal.SIGUSR2)
        new = masters.wait_for(
            self.env.layout.run_dir, None, LIVE, key, self.timeouts.cutover_timeout
        )
        ready = new is not None and self._new_workers_up(new) and self._serving(rid)
        if not ready:
            self.abort_cutover(old, new, key, rid)
        self.ledger.set_state(deploy_id, "verified")
        self.say(f"{rid} is serving; draining {old.release_id}")
        # TERM is gunicorn's graceful stop: the old master closes its copy of the listening
        # socket (the new master keeps its own), its workers finish their requests and exit.
        # (WINCH, the classic first step, is ignored by gunicorn unless daemonized.)
        self.env.stop_master(old, timeout=self.config.deploy.cutover_timeout)

    def _new_workers_up(self, master: Master) -> bool:
        want = self.workers
        return processes.wait_until(
            lambda: len(master.workers()) >= want, self.timeouts.cutover_timeout, 0.1
        )

    def abort_cutover(self, old: Master, new: Master | None, key: str, rid: str) -> NoReturn:
        if new is not None:
            self.env.stop_master(new)
        self.env.switch_current(old.deployment)
        raise DeployFailed(
            f"the handover to {rid} did not complete; {old.release_id} kept serving. "
            f"Log:\n{self.env.layout.log_tail(key)}"
        )
