"""The failure drill's time to detect and time to restore, by detector.

Usage (from the repository root; the committed HEAD is what runs):

    uv run --locked --all-packages python benchmarks/drill_detection.py \
        [--runs 5] [--detectors scrape,alert,prometheus] [--history 0]

Builds release A (HEAD) once in a scratch clone (tests/deploy_fixture.py), passes it through
staging's gates and deploys it to the clone's production (local target). Each run starts a
fresh Prometheus (the Debian package's binary, tests/support/prometheus.py: scrape and rule
evaluation every second, the SLO rules `gates slo-rules` generates, its own storage),
drives ``--history`` seconds of clean traffic at the drill's rate (what Prometheus' windows hold
before the push), then runs ``gates drill --detector <detector>`` and stops Prometheus by pid.
Detectors take turns run by run so drift on the machine spreads over all of them. Prints one
line per run and a Markdown table (median, min, max) for docs/benchmarks.md, with the load
average before and after.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the e2e scenarios' helpers

from deploy_fixture import Checkout, SharedReleases, scenario  # noqa: E402
from gates.perf.load import ConstantRateLoad  # noqa: E402
from support.prometheus import running_prometheus  # noqa: E402

RATE = 80  # the drill's default user traffic, requests/s


def one_run(repo: Checkout, directory: Path, detector: str, history: float) -> dict[str, Any]:
    scrape = f"127.0.0.1:{repo.port('production')}"
    rules = directory.parent / f"{directory.name}-slo-rules.yml"
    repo.gates("slo-rules", "--output", str(rules))
    with running_prometheus(directory, {"production": [scrape]}, [rules]) as prometheus:
        prometheus.wait_scraped("production")
        if history > 0:
            base = f"http://{scrape}"
            ConstantRateLoad(base, ("/api/data",), rate=RATE, duration=history).run()
        done = repo.gates(
            "drill",
            "--environment",
            "production",
            "--rate",
            str(RATE),
            "--prometheus-url",
            prometheus.url,
            "--detector",
            detector,
            check=False,
        )
    details: dict[str, Any] = repo.report("drill-production")["details"]
    return {"exit": done.returncode, **details}


def summary(values: list[float | None]) -> str:
    got = [v for v in values if v is not None]
    if not got:
        return "none"
    missed = f" ({len(values) - len(got)} missed)" if len(got) < len(values) else ""
    return f"{statistics.median(got):.2f} s ({min(got):.2f}–{max(got):.2f}){missed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="drills per detector")
    parser.add_argument("--detectors", default="scrape,alert,prometheus")
    parser.add_argument("--history", type=float, default=0.0, help="seconds of clean traffic")
    args = parser.parse_args()
    detectors = args.detectors.split(",")
    results: dict[str, list[dict[str, Any]]] = {d: [] for d in detectors}
    with tempfile.TemporaryDirectory(prefix="bench-drill-") as directory:
        base = Path(directory)
        repo = scenario(base / "repo", SharedReleases(base), "A")
        try:
            repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
            repo.gates("smoke", "--environment", "staging")
            repo.gates("perf", "--environment", "staging")
            repo.gates("down", "--environment", "staging")
            repo.gates("deploy", "--environment", "production")
            load_before = os.getloadavg()
            began = time.monotonic()
            for run in range(args.runs):
                for detector in detectors:
                    place = base / f"prometheus-{detector}-{run}"
                    got = one_run(repo, place, detector, args.history)
                    results[detector].append(got)
                    print(
                        f"run {run + 1} {detector}: exit {got['exit']}, detect "
                        f"{got['time_to_detect_s']} s after live, "
                        f"{got['time_to_detect_from_first_failed_request_s']} s after the first "
                        f"failed request ({got['first_failed_request_before_live_s']} s before "
                        f"live), restore {got['time_to_restore_s']} s, "
                        f"{got['failed_requests']}/{got['requests_sent']} failed; "
                        f"{got['detected_by']}",
                        flush=True,
                    )
            load_after = os.getloadavg()
        finally:
            for environment in ("staging", "production"):
                repo.gates("down", "--environment", environment, check=False)
            repo.kill_leftovers()
    print(
        f"\n{args.runs} runs per detector, history {args.history:g} s, {RATE} requests/s, "
        f"{time.monotonic() - began:.0f} s; load average before "
        f"{' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in load_after)}\n"
    )
    print(
        "| detector | passed | time to detect, from live: median (min–max) "
        "| from the first failed request | time to restore | failed / sent |"
    )
    print("|---|---|---|---|---|---|")
    for detector, runs in results.items():
        failed = sum(r["failed_requests"] for r in runs)
        sent = sum(r["requests_sent"] for r in runs)
        print(
            f"| {detector} | {sum(r['exit'] == 0 for r in runs)}/{len(runs)} "
            f"| {summary([r['time_to_detect_s'] for r in runs])} "
            f"| {summary([r['time_to_detect_from_first_failed_request_s'] for r in runs])} "
            f"| {summary([r['time_to_restore_s'] for r in runs])} | {failed} / {sent} |"
        )


if __name__ == "__main__":
    main()
