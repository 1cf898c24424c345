"""Carries one deploy or rollback to a swarm environment.

1. The release's image, by the manifest's digest (gates.release.image.pinned_reference), is
   pulled by the engine (gates.targets.swarm.image).
2. The edge and its network exist and answer (gates.targets.swarm.edge), and so does the
   environment's Prometheus when it has one (gates.targets.swarm.prometheus).
3. One ``docker service create``/``update`` of the whole spec (gates.targets.swarm.service);
   Swarm starts new tasks first and takes old ones out of DNS only once the new ones are
   healthy: a deploy one task at a time, a rollback all at once.
4. The outcome is read from the service's UpdateStatus, never from the CLI's exit code. If
   Swarm rolled the update back, the deploy fails naming why (the task's error, or the last
   output of its failed health check); the release that was live keeps serving.
5. Success is recorded only after a sustained check through the environment's URL: every
   answer of a run of consecutive requests comes from the new release. Then the
   environment's Prometheus evaluates the new release's SLO rules.

The edge is watched throughout steps 3-5: whenever it does not answer, it is repaired
(Edge.heal) and the release is judged through the repaired edge. A release is never rolled
back because its edge is down; if the edge cannot be repaired the deploy is EdgeDown (exit 3),
left in flight for the next command to verify.

The history (gates.targets.swarm.ledger) records the deploy as started, switching once the
update is submitted, then succeeded or failed; gates.targets.swarm.converge settles a deploy
that was killed on the way.
"""

import time
from collections.abc import Callable
from functools import partial

from gates.docker import DockerRefused, EngineUnreachable
from gates.outcome import GateError
from gates.release.image import pinned_reference
from gates.report import Report
from gates.targets import probe
from gates.targets.request import DeployFailed, DeployRequest, Release, ServiceConfig
from gates.targets.swarm import image
from gates.targets.swarm.edge import Edge, EdgeDown
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.ledger import EngineLedger
from gates.targets.swarm.prometheus import EnvironmentPrometheus, release_rules
from gates.targets.swarm.service import (
    DEPLOYMENT_LABEL,
    DEPLOYMENT_VARIABLE,
    RELEASE_LABEL,
    Outcome,
    Service,
    Spec,
)

# Added to the service's environment by the pipeline, not part of its recorded config.
RELEASE_ID_VARIABLE = "RELEASE_ID"
WORKERS_VARIABLE = "WEB_CONCURRENCY"
SUSTAINED = 20  # consecutive answers from the new release, through the environment's URL


def variables(service: ServiceConfig, release_id: str) -> dict[str, str]:
    return {
        **service.env,
        RELEASE_ID_VARIABLE: release_id,
        WORKERS_VARIABLE: str(service.workers),
        DEPLOYMENT_VARIABLE: service.deployment_key(release_id),
    }


def serves_steadily(
    env: SwarmEnvironment, release_id: str, timeout: float, nothing_answered: Callable[[], object]
) -> None:
    """Every answer of SUSTAINED consecutive requests through the environment's URL comes
    from ``release_id`` and is ready, then /health says healthy; DeployFailed if not within
    ``timeout`` s. ``nothing_answered`` is called when a request got no answer at all."""
    deadline = time.monotonic() + timeout
    streak, last = 0, "nothing answered"
    while streak < SUSTAINED:
        if time.monotonic() >= deadline:
            raise DeployFailed(
                f"{env.base_url} did not serve {release_id} steadily within {timeout:g} s "
                f"(last answer: {last})"
            )
        answer = probe.get("/ready", port=env.base_url, timeout=2.0)
        if answer.ok and answer.release == release_id:
            streak += 1
        else:
            streak = 0
            last = (
                f"{answer.status} from {answer.release or 'an unnamed release'}"
                if answer.status
                else answer.error
            )
            if not answer.status:
                nothing_answered()
            time.sleep(0.2)
    health = probe.get("/health", port=env.base_url, timeout=2.0)
    if not health.ok or health.body.get("status") != "healthy":
        raise DeployFailed(f"{env.base_url}/health answered {health.status} {health.body}")


def verify_serving(
    env: SwarmEnvironment, release_id: str, timeout: float, say: Callable[[str], object]
) -> None:
    """``release_id`` serves steadily through the environment's URL (serves_steadily), its
    edge repaired whenever a request finds nothing answering. DeployFailed only when the edge
    answers and the release does not serve: a service behind a broken edge is not judged. If
    the edge was the problem, it is repaired and the release verified again; EdgeDown (exit 3)
    when it cannot be repaired."""
    edge = Edge(env)
    heal_edge = partial(edge.heal, say)
    try:
        serves_steadily(env, release_id, timeout, heal_edge)
    except DeployFailed as exc:
        problem = edge.heal(say)
        if problem is None:
            raise
        say(f"{exc}; {problem}, now repaired: verifying {release_id} again")
        serves_steadily(env, release_id, timeout, heal_edge)


class SwarmDeployer:
    def __init__(self, env: SwarmEnvironment, ledger: EngineLedger, report: Report) -> None:
        self.env, self.ledger, self.report = env, ledger, report
        self.service = Service(env)

    def say(self, message: str) -> None:
        print(f"gates {self.env.name}: {message}", flush=True)

    def deploy(self, request: DeployRequest, release: Release, previous: str | None) -> None:
        env, rid, kind = self.env, release.id, request.kind
        key = request.service.deployment_key(rid)
        ref = pinned_reference(release.manifest)
        self.ledger.record_release(env.name, release.manifest)
        deploy_id = self.ledger.start_deploy(
            env.name,
            rid,
            kind,
            {
                "env": dict(request.service.env),
                "workers": request.service.workers,
                "key": key,
                "image": ref,
                "replicas": env.replicas,
            },
            previous=previous,
            commit=release.commit,
            reason=request.reason or None,
            override=request.override_promotion,
        )
        self.report.details.update(
            release_id=rid, deploy_id=deploy_id, kind=kind, previous_release=previous, image=ref
        )
        began = time.monotonic()
        edge = Edge(env)
        heal_edge = partial(edge.heal, self.say)  # while Swarm works: a dead edge is repaired
        switched = False
        try:
            image.pull(env.docker, ref, env.config.build.timeout)
            spec = self.service.spec()
            edge.ensure(self.say, with_service=spec is not None)
            prometheus = EnvironmentPrometheus(env)
            if prometheus.wanted:
                prometheus.ensure(self.say)
            labels = {RELEASE_LABEL: rid, DEPLOYMENT_LABEL: key}
            self.ledger.set_state(deploy_id, "switching")
            switched = True
            deadline = time.monotonic() + env.converge_timeout
            if spec is None:
                self.say(f"creating the service {env.service}: {env.replicas} x {rid}")
                self.service.create(ref, variables(request.service, rid), labels, kind)
                outcome = self.service.wait_new(ref, deadline, self.say, heal_edge)
            else:
                pace = "all tasks at once" if kind == "rollback" else "one task at a time"
                self.say(
                    f"rolling {env.service} from {spec.release_id or spec.image} to {rid} "
                    f"(start-first, {pace})"
                )
                self.service.update(ref, variables(request.service, rid), labels, spec, kind)
                outcome = self.service.wait_update(deadline, self.say, heal_edge)
            self.judge(outcome, spec, rid)
            try:
                verify_serving(env, rid, float(env.config.deploy.cutover_timeout), self.say)
            except DeployFailed as exc:
                self.undo(spec, f"{exc}")
            if prometheus.wanted:
                try:
                    prometheus.load_rules(release_rules(env.config, release), self.say)
                except GateError as exc:  # failed, so what serves must be what ran before
                    self.undo(spec, f"the environment's Prometheus did not load its rules: {exc}")
        except (EdgeDown, DockerRefused, EngineUnreachable) as exc:
            if not switched:
                self.ledger.set_state(deploy_id, "failed", str(exc))
                raise
            # The service was changed but could not be judged (the edge, the engine or its
            # leader gone): Swarm goes on with the update, so recording it failed would be a
            # guess. Left in flight, it is verified (completed or undone) by the next command
            # on the environment (converge).
            raise type(exc)(
                f"{exc}; the {kind} of {rid} stays in flight: the next command on {env.name} "
                "verifies it once the swarm and its edge answer"
            ) from None
        except GateError as exc:
            self.ledger.set_state(deploy_id, "failed", str(exc))
            raise
        self.ledger.set_state(deploy_id, "succeeded")
        seconds = round(time.monotonic() - began, 2)
        self.report.details["seconds"] = seconds
        self.report.add(
            kind,
            True,
            f"{rid} serving through {env.base_url} ({env.replicas} replicas)",
            f"{SUSTAINED} consecutive answers from the new release",
            f"service {env.service}",
        )
        self.say(f"{kind} of {rid} succeeded in {seconds} s")

    def judge(self, outcome: Outcome, before: Spec | None, rid: str) -> None:
        """Raise DeployFailed unless the new release is running everywhere."""
        if outcome.state in ("completed", "converged"):
            return
        kept = before.release_id if before else "nothing"
        if outcome.state.startswith("rollback"):
            raise DeployFailed(
                f"Swarm rolled the update to {rid} back by itself ({outcome.state}): "
                f"{outcome.reason}; {kept} kept serving"
            )
        if before is None:
            self.undo(before, f"{rid} did not start ({outcome.state}): {outcome.reason}")
        self.undo(
            before, f"the update to {rid} did not complete ({outcome.state}: {outcome.reason})"
        )

    def undo(self, before: Spec | None, why: str) -> None:
        """Put back what ran before this deploy, then raise DeployFailed saying ``why``."""
        if before is None:
            self.service.remove()
            raise DeployFailed(f"{why}; the new service was removed")
        self.say(f"{why}: rolling back to {before.release_id}")
        self.service.roll_back()
        heal_edge = partial(Edge(self.env).heal, self.say)
        back = self.service.wait_update(
            time.monotonic() + self.env.converge_timeout, self.say, heal_edge
        )
        raise DeployFailed(f"{why}; rolled back to {before.release_id} ({back.state})")
