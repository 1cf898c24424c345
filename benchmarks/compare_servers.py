"""Throughput and latency of /api/data: gunicorn (production) vs Flask's development server.

Usage (from the repository root; needs wrk from Debian/Ubuntu: apt-get install wrk):

    uv run --locked --all-packages python benchmarks/compare_servers.py [--duration 20]

Both servers run the same app on 127.0.0.1 and get the same closed-loop wrk load; the
script prints a Markdown table for docs/benchmarks.md and stops both servers by pid.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

DEV_SERVER = (
    "from techcorp_api import create_app; "
    "create_app().run(host='127.0.0.1', port={port})"  # what the exercise ran (app.run)
)
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_up(url, process, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"server exited {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # nosec B310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"server did not answer {url} within {timeout} s")


def ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * UNITS[unit]


def run_wrk(url, duration, connections, threads):
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)$", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms(percentiles["50"]),
        "p99": ms(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
        "raw": out,
    }


def measure(name, argv, env, duration, connections, threads, port):
    process = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/data"
        wait_up(url, process)
        run_wrk(url, 3, connections, threads)  # warm-up
        print(f"measuring {name} for {duration} s ...", file=sys.stderr, flush=True)
        return run_wrk(url, duration, connections, threads)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)


def median_of(runs):
    return {key: statistics.median(r[key] for r in runs) for key in ("rps", "p50", "p99")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=20, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed; apt-get install wrk")

    env = {**os.environ, "ENVIRONMENT": "benchmark"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # gunicorn makes (and removes) its own
    load = (args.duration, args.connections, args.threads)
    servers = {
        "gunicorn (2 workers x 4 threads)": lambda port: [
            sys.executable,
            "-m",
            "techcorp_api",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        "Flask app.run": lambda port: [sys.executable, "-c", DEV_SERVER.format(port=port)],
    }
    runs = {name: [] for name in servers}
    for round_ in range(1, args.rounds + 1):
        for name, argv in servers.items():
            port = free_port()
            print(f"round {round_}/{args.rounds}: ", end="", file=sys.stderr)
            runs[name].append(measure(name, argv(port), env, *load, port))

    print(
        f"medians of {args.rounds} rounds of {args.duration} s, wrk -t{args.threads} "
        f"-c{args.connections}, /api/data\n"
    )
    print("| server | requests/s | p50 ms | p99 ms | requests/s per round | non-2xx |")
    print("|---|---|---|---|---|---|")
    for name, results in runs.items():
        m = median_of(results)
        each = " / ".join(f"{r['rps']:.0f}" for r in results)
        bad = sum(r["non_2xx"] for r in results)
        print(f"| {name} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | {each} | {bad} |")
    g, d = (median_of(r) for r in runs.values())
    print(
        f"\ngunicorn / dev server: throughput x{g['rps'] / d['rps']:.2f}, "
        f"p50 x{g['p50'] / d['p50']:.2f}, p99 x{g['p99'] / d['p99']:.2f}"
    )


if __name__ == "__main__":
    main()
