"""``gates deploy``: install a verified release and cut traffic over with no failed request.

The cutover is gunicorn's own binary upgrade: ``current`` is switched to the new deployment,
USR2 makes the live master re-execute itself through ``current`` (keeping the listening
socket), the new master's workers start answering beside the old ones, and once the new
release is seen serving, TERM drains the old master's workers and ends it.
Before any of that, the release is pre-flighted on a private unix socket.
"""

import shutil
import signal
import tempfile
from pathlib import Path

from gates.deploy import processes, probe
from gates.deploy.converge import converge
from gates.deploy.environment import LIVE, PREFLIGHT, Environment, deployment_key
from gates.ledger import Ledger
from gates.outcome import FAILED, ConfigError, GateError
from gates.release import store
from gates.release.install import install

HELP = "install a verified release into an environment and cut over with no failed request"


class DeployFailed(GateError):
    exit_code = FAILED


def add_arguments(parser):
    parser.add_argument("--environment", required=True, help="e.g. staging or production")
    parser.add_argument(
        "--release",
        help="release id or 'latest' (default: latest; for an environment with promote_from, "
        "the release live there)",
    )
    parser.add_argument("--reason", default="", help="why (recorded in the ledger)")
    parser.add_argument(
        "--override-promotion",
        metavar="WHY",
        help="deploy even though the promotion policy refuses; the reason is recorded",
    )


def run(config, report, args):
    env = Environment(config, args.environment)
    ledger = Ledger.open(config)
    with env.lock(config.deploy.lock_timeout):
        live = converge(env, ledger)
        release_dir = store.resolve(config, choose_release(config, env, ledger, args))
        manifest = store.verify(release_dir)
        rid = manifest["release_id"]
        check_promotion(env, ledger, rid, args, report)
        service_env = dict(env.config.env)
        key = deployment_key(rid, service_env, env.config.workers)
        if live is not None and live.deployment == key:
            print(
                f"gates deploy: {rid} is already live in {env.name} with this config; nothing to do"
            )
            report.add("deploy", True, f"{rid} already live (no-op)", "release serving", env.name)
            report.details.update(release_id=rid, noop=True)
            return
        deployer = Deployer(config, env, ledger, report)
        deployer.deploy(
            manifest, release_dir, service_env, env.config.workers, live, args, kind="deploy"
        )


def choose_release(config, env, ledger, args):
    if args.release:
        return args.release
    if env.config.promote_from:
        source = ledger.last_succeeded(env.config.promote_from)
        if source is None:
            raise ConfigError(
                f"nothing to promote: no release was deployed to {env.config.promote_from}; "
                "deploy there first or name one with --release"
            )
        return source["release_id"]
    return store.LATEST


def check_promotion(env, ledger, rid, args, report):
    source = env.config.promote_from
    if not source:
        return
    missing = []
    if ledger.succeeded_in(source, rid) is None:
        missing.append(f"a successful deploy to {source}")
    results = {row["gate"]: row["exit_code"] for row in ledger.gate_results(source, rid)}
    for gate in env.config.required_gates:
        if results.get(gate) != 0:
            state = "failed" if gate in results else "not run"
            missing.append(f"a passing {gate} gate in {source} ({state})")
    if not missing:
        report.add("promotion", True, f"{rid} passed {source}", f"deployed to {source}", source)
        return
    if args.override_promotion:
        print(
            f"gates deploy: PROMOTION OVERRIDDEN ({args.override_promotion}); missing: "
            + "; ".join(missing)
        )
        report.add(
            "promotion", True, "overridden: " + args.override_promotion, "; ".join(missing), source
        )
        return
    report.add(
        "promotion",
        False,
        f"{rid} lacks " + "; ".join(missing),
        f"deployed to {source} and passed {list(env.config.required_gates) or 'it'}",
        "ledger",
    )
    raise DeployFailed(
        f"{env.name} accepts only releases that passed {source}: {rid} lacks "
        + "; ".join(missing)
        + " (--override-promotion WHY to force it, recorded)"
    )


class Deployer:
    """Carries one deploy or rollback through install, pre-flight and cutover."""

    def __init__(self, config, env, ledger, report):
        self.config, self.env, self.ledger, self.report = config, env, ledger, report
        self.timeouts = config.deploy

    def say(self, message):
        print(f"gates {self.env.name}: {message}", flush=True)

    def deploy(self, manifest, release_dir, service_env, workers, live, args, kind):
        rid = manifest["release_id"]
        key = deployment_key(rid, service_env, workers)
        self.workers = workers
        deploy_id = self.ledger.start_deploy(
            self.env.name,
            rid,
            kind,
            {"env": service_env, "workers": workers, "key": key},
            previous=live.release_id if live else None,
            commit=manifest["source"]["commit"],
            reason=getattr(args, "reason", "") or None,
            override=getattr(args, "override_promotion", None),
        )
        self.report.details.update(
            release_id=rid,
            deploy_id=deploy_id,
            kind=kind,
            previous_release=live.release_id if live else None,
        )
        try:
            self.install(release_dir, rid)
            self.env.write_deployment(key, rid, service_env, workers)
            self.preflight(key, rid)
            if live is None:
                self.first_start(key, rid, deploy_id)
            else:
                self.cutover(live, key, rid, deploy_id)
        except GateError as exc:
            self.ledger.set_state(deploy_id, "failed", str(exc))
            raise
        self.ledger.set_state(deploy_id, "succeeded")
        served = self.env.probe_port("/ready")
        self.report.add(
            kind,
            served.release == rid,
            f"{rid} serving on 127.0.0.1:{self.env.config.port}",
            "the new release answers /ready",
            f"ledger #{deploy_id}",
        )
        self.say(f"{kind} of {rid} succeeded (ledger #{deploy_id})")

    def install(self, release_dir, rid):
        """Install the release once per environment. Callers pass a manifest they verified
        (store.verify); the install itself checks every wheel's hash again."""
        venv = self.env.venv_for(rid)
        done_marker = venv / ".installed-by-gates"
        if done_marker.is_file():
            self.say(f"release {rid} is already installed")
            return
        # A missing marker means no install, or one that was interrupted: start afresh.
        self.say(f"installing release {rid} (offline, hashes checked)")
        install(release_dir, venv, timeout=self.config.build.timeout, verify_first=False)
        done_marker.write_text(rid + "\n")

    def preflight(self, key, rid):
        """Start the release on a private unix socket; it must answer /health and /ready."""
        # A short path: unix socket paths are limited to about 100 bytes.
        socket_dir = Path(tempfile.mkdtemp(prefix="gates-preflight-"))
        socket_path = socket_dir / "http.sock"
        self.say(f"pre-flight of {rid} on {socket_path}")
        process = self.env.spawn(
            self.env.deployment_dir(key), ["--bind", f"unix:{socket_path}"], role=PREFLIGHT
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
                f"last lines of {self.env.log_path(key)}:\n{self.env.log_tail(key)}"
            )

    def _preflight_problem(self, process, socket_path, rid):
        def answered():
            if process.poll() is not None:
                return "exited"
            if not socket_path.exists():
                return None
            ready = probe.get("/ready", unix_socket=socket_path)
            return ready if ready.ok else None

        result = processes.wait_until(answered, self.timeouts.preflight_timeout, 0.1)
        if result == "exited":
            return f"gunicorn exited with code {process.returncode} during start-up"
        if result is None:
            last = probe.get("/ready", unix_socket=socket_path)
            seen = f"/ready answered {last.status} {last.body}" if last.status else last.error
            return f"not ready within {self.timeouts.preflight_timeout} s ({seen or 'no socket'})"
        health = probe.get("/health", unix_socket=socket_path)
        if not health.ok or health.body.get("status") != "healthy":
            return f"/health answered {health.status} {health.body}"
        if result.release != rid:
            return f"answered as release {result.release!r}, expected {rid}"
        return None

    def first_start(self, key, rid, deploy_id):
        self.say(f"starting {self.env.name} on 127.0.0.1:{self.env.config.port} with {rid}")
        self.env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        process = self.env.spawn(self.env.current)
        master = self.env.wait_for_master(process, LIVE, key, self.timeouts.cutover_timeout)
        if master is None or not self._serving(rid):
            if master is not None:
                self.env.stop_master(master)
            raise DeployFailed(
                f"{self.env.name} did not start serving {rid} on port {self.env.config.port}:\n"
                + self.env.log_tail(key)
            )

    def _serving(self, rid):
        def answered_by_release():
            answer = self.env.probe_port()
            return answer.ok and answer.release == rid

        return processes.wait_until(answered_by_release, self.timeouts.cutover_timeout, 0.1)

    def cutover(self, old, key, rid, deploy_id):
        self.say(f"cutting over from {old.release_id} to {rid} (gunicorn USR2 handover)")
        self.env.switch_current(key)
        self.ledger.set_state(deploy_id, "switching")
        old.signal(signal.SIGUSR2)
        new = self.env.wait_for_master(None, LIVE, key, self.timeouts.cutover_timeout)
        ready = new is not None and self._new_workers_up(new) and self._serving(rid)
        if not ready:
            self.abort_cutover(old, new, key, rid)
        self.ledger.set_state(deploy_id, "verified")
        self.say(f"{rid} is serving; draining {old.release_id}")
        # TERM is gunicorn's graceful stop: the old master closes its copy of the listening
        # socket (the new master keeps its own), its workers finish their requests and exit.
        # (WINCH, the classic first step, is ignored by gunicorn unless daemonized.)
        self.env.stop_master(old, timeout=self.config.deploy.cutover_timeout)

    def _new_workers_up(self, master):
        want = self.workers
        return processes.wait_until(
            lambda: len(master.workers()) >= want, self.timeouts.cutover_timeout, 0.1
        )

    def abort_cutover(self, old, new, key, rid):
        if new is not None:
            self.env.stop_master(new)
        self.env.switch_current(old.deployment)
        raise DeployFailed(
            f"the handover to {rid} did not complete; {old.release_id} kept serving. "
            f"Log:\n{self.env.log_tail(key)}"
        )
