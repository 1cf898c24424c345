"""``gates deploy``: put a verified release live in an environment, if policy allows.

The release is the one named, or by default the environment's promotion source's live
release (or the latest build). An environment with ``promote_from`` accepts only releases
that succeeded there and passed its required gates there, unless overridden (recorded).
How the release goes live is the target's business (gates.targets.base.Target.deploy).
"""

from argparse import ArgumentParser, Namespace

from gates.config import PipelineConfig
from gates.targets.request import DeployFailed, DeployRequest, Release, ServiceConfig
from gates.outcome import ConfigError
from gates.release import store
from gates.report import Report
from gates.targets import Target, target_for


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--release",
        help="release id, a unique prefix of it (4+ hex digits), or 'latest' (default: latest; "
        "for an environment with promote_from, the release live there)",
    )
    parser.add_argument("--reason", default="", help="why (recorded in the ledger)")
    parser.add_argument(
        "--override-promotion",
        metavar="WHY",
        help="deploy even though the promotion policy refuses; the reason is recorded",
    )


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    # Checked before anything is locked, converged or recorded: bad input changes nothing.
    named = None if args.release is None else store.release_name(args.release)
    request = DeployRequest(
        environment=args.environment,
        service=ServiceConfig.configured(config.environment(args.environment)),
        release=named,
        reason=args.reason,
        override_promotion=args.override_promotion,
    )
    target = target_for(config, request.environment)
    with target.hold() as live:
        release = Release.verified(config, choose_release(config, target, request))
        rid = release.id
        check_promotion(config, target, rid, request, report)
        if live is not None and live.deployment == request.service.deployment_key(rid):
            print(
                f"gates deploy: {rid} is already live in {target.name} with this config; "
                "nothing to do"
            )
            report.add(
                "deploy", True, f"{rid} already live (no-op)", "release serving", target.name
            )
            report.details.update(release_id=rid, noop=True)
            return
        target.deploy(request, release, report)


def choose_release(config: PipelineConfig, target: Target, request: DeployRequest) -> str:
    if request.release is not None:
        return request.release
    source = config.environment(request.environment).promote_from
    if source:
        row = target.ledger.last_succeeded(source)
        if row is None:
            raise ConfigError(
                f"nothing to promote: no release was deployed to {source}; "
                "deploy there first or name one with --release"
            )
        return str(row["release_id"])
    return store.LATEST


def check_promotion(
    config: PipelineConfig, target: Target, rid: str, request: DeployRequest, report: Report
) -> None:
    settings = config.environment(request.environment)
    source = settings.promote_from
    if not source:
        return
    ledger = target.ledger
    missing = []
    if ledger.succeeded_in(source, rid) is None:
        missing.append(f"a successful deploy to {source}")
    results = {row["gate"]: row["exit_code"] for row in ledger.gate_results(source, rid)}
    for gate in settings.required_gates:
        if results.get(gate) != 0:
            state = "failed" if gate in results else "not run"
            missing.append(f"a passing {gate} gate in {source} ({state})")
    if not missing:
        report.add("promotion", True, f"{rid} passed {source}", f"deployed to {source}", source)
        return
    override = request.override_promotion
    if override:
        print(f"gates deploy: PROMOTION OVERRIDDEN ({override}); missing: " + "; ".join(missing))
        report.add("promotion", True, "overridden: " + override, "; ".join(missing), source)
        return
    report.add(
        "promotion",
        False,
        f"{rid} lacks " + "; ".join(missing),
        f"deployed to {source} and passed {list(settings.required_gates) or 'it'}",
        "ledger",
    )
    raise DeployFailed(
        f"{target.name} accepts only releases that passed {source}: {rid} lacks "
        + "; ".join(missing)
        + " (--override-promotion WHY to force it, recorded)"
    )
