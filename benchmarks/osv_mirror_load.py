"""Time ``gates.security.osv_mirror``: loading an OSV directory, and matching 100 pins.

Usage (from the repository root):

    .venv/bin/python benchmarks/osv_mirror_load.py                  # 5000 synthetic advisories
    .venv/bin/python benchmarks/osv_mirror_load.py --advisories 20000 --rounds 5
    .venv/bin/python benchmarks/osv_mirror_load.py --directory ~/advisory-database  # a real one

Synthetic advisories are written in a temporary directory in the PyPA layout
(``vulns/<package>/<ID>.yaml``), shaped like the PyPA database's records: four per package,
each with a GIT and an ECOSYSTEM range, a list of 20 affected versions, aliases and a paragraph
of details. The load is timed at a quarter, half and all of ``--advisories`` (a fresh directory
each size), so that a load that grows faster than the number of files shows in the time per
file. Prints the median of ``--rounds`` rounds per size, in milliseconds.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gates.security.osv_mirror import Mirror, load  # noqa: E402

PER_PACKAGE = 4
PINS = 100


def synthetic_record(number: int) -> tuple[str, dict]:
    package = f"package-{number // PER_PACKAGE}"
    fixed_minor = 5 + number % 10
    return package, {
        "id": f"PYSEC-2099-{number}",
        "details": " ".join(["Synthetic advisory for the load benchmark."] * 8),
        "affected": [
            {
                "package": {"name": package, "ecosystem": "PyPI", "purl": f"pkg:pypi/{package}"},
                "ranges": [
                    {
                        "type": "GIT",
                        "repo": f"https://example.invalid/{package}",
                        "events": [{"introduced": "0"}, {"fixed": f"{number:040x}"}],
                    },
                    {
                        "type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": f"1.{fixed_minor}.0"}],
                    },
                ],
                "versions": [f"{major}.{minor}" for major in (0, 1) for minor in range(10)],
            }
        ],
        "aliases": [f"CVE-2099-{number}", f"GHSA-{number:04x}-test-test"],
        "references": [{"type": "WEB", "url": f"https://example.invalid/{number}"}],
        "modified": f"2026-11-{1 + number % 28:02d}T12:00:00.{number % 1000000:06d}Z",
        "published": "2026-01-01T00:00:00Z",
    }


def write_synthetic(directory: Path, count: int) -> Path:
    for number in range(count):
        package, record = synthetic_record(number)
        folder = directory / "vulns" / package
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{record['id']}.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    return directory


def pins(mirror: Mirror) -> list[tuple[str, str]]:
    """100 pins spread over the mirror's packages, half of them affected versions."""
    packages = sorted({advisory.package for advisory in mirror.advisories})
    step = max(1, len(packages) // PINS)
    chosen = (packages * PINS)[::step][:PINS]
    return [(name, "1.2" if n % 2 else "9.0") for n, name in enumerate(chosen)]


def measure(directory: Path, rounds: int) -> tuple[Mirror, float, float, int]:
    """(mirror, median load ms, median ms to match 100 pins, findings for the pins)."""
    loads, matches = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        mirror = load(directory)
        loads.append((time.perf_counter() - started) * 1000)
        chosen = pins(mirror)
        started = time.perf_counter()
        findings = sum(len(mirror.affecting(name, version)) for name, version in chosen)
        matches.append((time.perf_counter() - started) * 1000)
    return mirror, statistics.median(loads), statistics.median(matches), findings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--advisories", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--directory", type=Path, help="time this OSV directory instead")
    args = parser.parse_args()
    print("| advisories | files | load ms | µs per file | match 100 pins ms | findings |")
    print("|---|---|---|---|---|---|")
    if args.directory:
        sizes: list[tuple[str, Path | None, int]] = [(str(args.directory), args.directory, 0)]
    else:
        quarter = args.advisories // 4
        sizes = [(str(n), None, n) for n in (quarter, 2 * quarter, args.advisories)]
    for label, directory, count in sizes:
        with tempfile.TemporaryDirectory() as temporary:
            where = directory or write_synthetic(Path(temporary), count)
            mirror, load_ms, match_ms, findings = measure(where, args.rounds)
        per_file = load_ms * 1000 / mirror.files
        print(
            f"| {label} | {mirror.files} | {load_ms:.0f} | {per_file:.0f} | {match_ms:.2f} "
            f"| {findings} |"
        )


if __name__ == "__main__":
    main()
