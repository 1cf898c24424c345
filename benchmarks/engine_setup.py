"""Time to set up the engine on a fresh machine: `gates engine up`, cold and warm; and the
release image's build and push.

Usage (as root, from the repository root; the packages installed, see README):

    uv run --locked --all-packages python benchmarks/engine_setup.py [--rounds 2] [--image]

Each round sets up a NEW engine beside any that already runs: its socket in
/run/gates-bench, its data root and registry storage in a new directory under /var/tmp, its
registry on a free loopback port. *Cold*: `gates engine up` with nothing there (dockerd,
registry, debootstrap of the base image, the edge image built and pushed). *Warm*: `down`,
then `up` again with the data kept, as on a machine that ran it before. The round ends with
`down` and its directories removed. Rounds run with `--no-swarm` when another dockerd runs on
the machine: two swarms cannot share one host's ports and `docker_gwbridge` device; on a
machine with no other engine, `--swarm` includes `swarm init`.

``--image`` also times the release image's build and push (`build_release_image`, what
`gates build` does after the wheelhouse) on the warm engine, twice: first push (the base
layers go to the registry) and again (the registry has them). Prints Markdown tables.
"""

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the tests' gates CLI runner

from gates.config import load_config  # noqa: E402
from gates.release.image import build_release_image  # noqa: E402
from gates.report import Report  # noqa: E402
from support.gates_cli import run_gates  # noqa: E402
from support.pipeline_project import make_project  # noqa: E402
from support.ports import free_port  # noqa: E402

SOCKET = "/run/gates-bench/docker.sock"


def engine_project(work: Path) -> Path:
    registry = f"127.0.0.1:{free_port()}"
    path = make_project(work / "project")
    path.write_text(path.read_text() + f"""
[tool.pipeline.engine]
docker_host = "unix://{SOCKET}"
data_root = "{work / 'data'}"
registry = "{registry}"
registry_data = "{work / 'registry'}"
edge_image = "{registry}/gates-haproxy:2.6"

[tool.pipeline.build]
container_engine = "docker"
base_image = "gates-base:bookworm"
""")
    return path


def gates(config: Path, *args: str) -> tuple[float, str]:
    started = time.monotonic()
    done = run_gates(config, *args, env={"DOCKER_HOST": ""}, timeout=1800)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        run_gates(config, "engine", "down", env={"DOCKER_HOST": ""})
        sys.exit(f"gates {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def steps(output: str) -> dict[str, float]:
    """The step times `up` prints: dockerd, registry, base, edge, push."""
    found = {
        name: float(seconds)
        for name, seconds in re.findall(r"(\w+) (?:answers after|done in) ([\d.]+) s", output)
    }
    return found


def image_times(config_path: Path, release: Path) -> list[float]:
    config = load_config(config_path, environ={})
    times = []
    for rid in ("benchmark0000001", "benchmark0000002"):
        started = time.monotonic()
        facts = build_release_image(config, release, rid, 900, Report("build"))
        times.append(time.monotonic() - started)
        assert facts.get("digest"), facts
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--swarm", action="store_true", help="include swarm init")
    parser.add_argument("--image", metavar="RELEASE_DIR", type=Path, help="time image builds")
    args = parser.parse_args()
    swarm = [] if args.swarm else ["--no-swarm"]
    rows, image_rows = [], []
    for n in range(args.rounds):
        work = Path(tempfile.mkdtemp(prefix="gates-bench-", dir="/var/tmp"))
        config = engine_project(work)
        try:
            cold, cold_out = gates(config, "engine", "up", *swarm)
            gates(config, "engine", "down")
            warm, warm_out = gates(config, "engine", "up", *swarm)
            if args.image:
                image_rows.append(image_times(config, args.image))
            down, _ = gates(config, "engine", "down")
        finally:
            run_gates(config, "engine", "down", env={"DOCKER_HOST": ""})
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(Path(SOCKET).parent, ignore_errors=True)  # the daemons' logs
        rows.append((cold, steps(cold_out), warm, steps(warm_out), down))
        print(f"round {n + 1}: cold {cold:.1f} s, warm {warm:.1f} s, down {down:.1f} s", flush=True)
    print(
        "\n| round | cold `up` | dockerd | registry | base (debootstrap + import) | edge build "
        "| edge push | warm `up` | `down` |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n, (cold, parts, warm, _, down) in enumerate(rows, 1):
        cells = [
            f"{parts.get(k, 0):.1f} s" for k in ("dockerd", "registry", "base", "edge", "push")
        ]
        print(f"| {n} | {cold:.1f} s | {' | '.join(cells)} | {warm:.1f} s | {down:.1f} s |")
    if len(rows) > 1:
        print(
            f"| median | {statistics.median(r[0] for r in rows):.1f} s | | | | | | "
            f"{statistics.median(r[2] for r in rows):.1f} s | |"
        )
    if image_rows:
        print("\n| round | image build + first push | image build + push again |")
        print("|---|---|---|")
        for n, (first, again) in enumerate(image_rows, 1):
            print(f"| {n} | {first:.1f} s | {again:.1f} s |")


if __name__ == "__main__":
    main()
