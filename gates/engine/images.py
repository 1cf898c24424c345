"""The base and edge images, built on this machine without Docker Hub.

Base: ``debootstrap --variant=minbase`` of a Debian suite with python3, venv and CA
certificates, upgraded from the suite's security and updates archives, apt's lists and caches
removed, then ``docker import`` (about 170 MB; 55-90 s, mostly the mirror). Edge: HAProxy from
Debian's package in an image ``FROM`` the base (+6 MB), built with ``--network host`` because
an engine started with ``--bridge none`` gives build containers no network of their own.
Its command reads ``/usr/local/etc/haproxy/haproxy.cfg`` (the swarm target provides it).
Prometheus: Debian's ``prometheus`` package the same way (a swarm environment's own
Prometheus, gates.targets.swarm.prometheus, which gives it its configuration).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gates.docker import Docker, said
from gates.engine import mounts
from gates.engine.daemons import last_log_line
from gates.outcome import MeasurementError

if TYPE_CHECKING:
    from gates.config import EngineConfig

PACKAGES = ("python3", "python3-venv", "python-is-python3", "ca-certificates")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Left out of the image: apt's package lists and caches, logs of the install.
TRIM = (
    "var/lib/apt/lists/*",
    "var/cache/apt/*.bin",
    "var/cache/apt/archives/*.deb",
    "var/log/apt/*",
    "var/log/dpkg.log",
    "var/cache/debconf/*-old",
)
EDGE_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log
LABEL org.opencontainers.image.title="gates edge (HAProxy from Debian)"
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
"""
# No service is started while the package installs (there is no init in a build anyway).
PROMETHEUS_DOCKERFILE = """\
ARG BASE
FROM ${BASE}
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus \\
 && apt-get clean && rm /usr/sbin/policy-rc.d \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log
LABEL org.opencontainers.image.title="gates prometheus (Prometheus from Debian)"
CMD ["prometheus", "--config.file=/etc/prometheus/prometheus.yml", \\
     "--storage.tsdb.path=/prometheus/data"]
"""
PROGRESS_EVERY = 15.0  # seconds between progress lines of a long step
TIMEOUT = 1800.0

Say = Callable[[str], None]


def sources(engine: EngineConfig) -> str:
    """The rootfs's apt sources: the suite, its updates and (for a Debian mirror) security."""
    lines = [
        f"deb {engine.mirror} {suite} main" for suite in (engine.suite, f"{engine.suite}-updates")
    ]
    if engine.mirror.rstrip("/").endswith("/debian"):
        security = engine.mirror.rstrip("/") + "-security"
        lines.append(f"deb {security} {engine.suite}-security main")
    return "\n".join(lines) + "\n"


def run_logged(argv: list[str], log: Path, what: str, say: Say) -> None:
    """Run ``argv`` with its output in ``log``, a progress line every 15 s (the log's last
    line); MeasurementError with that line when it fails or outlives TIMEOUT."""
    began = time.monotonic()
    with open(log, "ab") as out:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        try:
            while True:
                try:
                    code = child.wait(PROGRESS_EVERY)
                    break
                except subprocess.TimeoutExpired:
                    elapsed = time.monotonic() - began
                    if elapsed > TIMEOUT:
                        raise MeasurementError(f"{what} did not finish within {TIMEOUT:.0f} s")
                    say(f"{what}: {elapsed:.0f} s, {last_log_line(log)[:100]}")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    if code != 0:
        raise MeasurementError(f"{what} failed (exit {code}): {last_log_line(log)} (log: {log})")


def build_base(engine: EngineConfig, log: Path, say: Say) -> None:
    """debootstrap + upgrade + import as ``engine.base_image``."""
    work = Path(tempfile.mkdtemp(prefix="gates-base-", dir="/var/tmp"))
    root = work / "rootfs"
    try:
        say(f"debootstrap {engine.suite} from {engine.mirror} (about 1-2 min; log: {log})")
        include = ",".join(PACKAGES)
        run_logged(
            ["debootstrap", "--variant=minbase", f"--include={include}", "--components=main"]
            + [engine.suite, str(root), engine.mirror],
            log,
            "debootstrap",
            say,
        )
        (root / "etc/apt/sources.list").write_text(sources(engine))
        shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
        say("upgrading the rootfs from the security and updates archives")
        upgrade = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade"
        run_logged(
            ["chroot", str(root), "/bin/sh", "-c", f"{upgrade} && apt-get clean"],
            log,
            "apt-get upgrade in the rootfs",
            say,
        )
        (root / "etc/resolv.conf").unlink()
        for pattern in TRIM:
            for path in root.glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        import_rootfs(engine, root)
    finally:
        mounts.unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


def import_rootfs(engine: EngineConfig, root: Path) -> None:
    docker = Docker.of(engine)
    changes = [f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]']
    argv = [docker.binary(), "import", *(a for c in changes for a in ("--change", c))]
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "-C", str(root), "-c", "."], stdout=subprocess.PIPE
    )
    try:
        imported = subprocess.run(
            [*argv, "-", engine.base_image],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            env=docker.env(),
            timeout=600,
        )
    finally:
        if tar.stdout:
            tar.stdout.close()
        tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        why = (imported.stderr or imported.stdout).strip().splitlines()[-1:] or ["tar failed"]
        raise MeasurementError(f"docker import of the base image failed: {why[0]}")


def build_edge(engine: EngineConfig, say: Say) -> None:
    """HAProxy from Debian in an image FROM the base, tagged ``engine.edge_image``."""
    build_from_base(engine, EDGE_DOCKERFILE, engine.edge_image, "HAProxy", say)


def build_prometheus(engine: EngineConfig, say: Say) -> None:
    """Prometheus from Debian in an image FROM the base, tagged ``engine.prometheus_image``."""
    build_from_base(engine, PROMETHEUS_DOCKERFILE, engine.prometheus_image, "Prometheus", say)


def build_from_base(
    engine: EngineConfig, dockerfile: str, reference: str, what: str, say: Say
) -> None:
    docker = Docker.of(engine)
    with tempfile.TemporaryDirectory(prefix="gates-image-") as context:
        (Path(context) / "Dockerfile").write_text(dockerfile)
        say(f"building {reference} FROM {engine.base_image} ({what} from Debian)")
        done = docker.run(
            "build",
            "--network",
            "host",
            "--build-arg",
            f"BASE={engine.base_image}",
            "--tag",
            reference,
            context,
            timeout=TIMEOUT,
            check=False,
        )
    if done.returncode != 0:
        raise MeasurementError(f"building {reference} ({what}) failed: {said(done)}")


def push(engine: EngineConfig, reference: str, say: Say) -> None:
    say(f"pushing {reference}")
    Docker.of(engine).run("push", reference, timeout=TIMEOUT)
