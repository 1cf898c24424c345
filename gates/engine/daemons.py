"""Starting and stopping the engine's daemons and its swarm, the way the prototype proved.

dockerd runs on the private ``docker_host`` socket with its own data and exec roots, and
without a bridge or iptables rules (``--bridge none --iptables=false``): nothing else on the
machine picks it up, and stopping it leaves no firewall state behind. The registry is
Debian's docker-registry with a generated config on the configured loopback address. The
swarm is a single node advertised on 127.0.0.1.

A daemon is started in a session of its own (so it outlives the command and a terminal's
signals), its output appended to a log file. What ``up`` started is kept in the engine's
record as a :class:`~gates.engine.record.Started` (pid *and* start time, gates.processes):
before a signal is sent, the process at that pid must have that start time, so a pid reused
by another process after ours ended is never signalled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import yaml

from gates.docker import Docker, said
from gates.engine import mounts
from gates.engine.layout import Layout
from gates.engine.record import Record, Started
from gates.outcome import MeasurementError
from gates.registry import Registry

if TYPE_CHECKING:
    from gates.config import EngineConfig

DOCKERD_FLAGS = (
    "--storage-driver",
    "overlay2",
    "--log-level",
    "warn",
    "--bridge",
    "none",
    "--iptables=false",
    "--ip",
    "127.0.0.1",
)
SWARM_INIT = (
    "--advertise-addr",
    "127.0.0.1",
    "--listen-addr",
    "127.0.0.1:2377",
    "--data-path-addr",
    "127.0.0.1",
)
READY_TIMEOUT = 60.0
GWBRIDGE = "docker_gwbridge"  # the bridge swarm containers with published ports use

Say = Callable[[str], None]


def registry_config(
    data: Path,
    addr: str,
    tls: tuple[Path, Path] | None = None,
    htpasswd: tuple[str, Path] | None = None,
) -> str:
    """docker-registry's configuration: storage in ``data``, listening on ``addr``
    (host:port); with ``tls`` (certificate, key) HTTPS, with ``htpasswd`` (realm, file) basic
    auth. The dev engine's registry has neither (127.0.0.1 only); the nodes' has both."""
    http: dict[str, Any] = {"addr": addr, "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(data)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": http,
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": htpasswd[0], "path": str(htpasswd[1])}}
    return yaml.safe_dump(config, sort_keys=False)


def spawn(argv: list[str], log: Path) -> tuple[Started, subprocess.Popen[bytes]]:
    """Start ``argv`` as a daemon in its own session, stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "ab") as out:
            child = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
    except OSError as exc:
        raise MeasurementError(f"{argv[0]} could not start: {exc.strerror}") from None
    # The child is ours until reaped, so its pid cannot have been reused yet.
    created = psutil.Process(child.pid).create_time()
    return Started(child.pid, created, argv[0]), child


def stop(started: Started, timeout: float = 30.0) -> str:
    """SIGTERM, then SIGKILL after ``timeout`` s; what happened, in words."""
    process = started.process()
    if process is None:
        return f"{started.argv0} (pid {started.pid}) had already ended"
    began = time.monotonic()
    try:
        process.terminate()
        process.wait(timeout)
    except psutil.TimeoutExpired:
        process.kill()
        process.wait(10)
        return f"{started.argv0} (pid {started.pid}) did not stop within {timeout:.0f} s: killed"
    except psutil.NoSuchProcess:
        pass
    return f"{started.argv0} (pid {started.pid}) stopped in {time.monotonic() - began:.1f} s"


def last_log_line(log: Path) -> str:
    """The last non-blank line of a daemon's log, for a one-line failure."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, os.path.getsize(log) - 8192))
            lines = [line.strip() for line in handle.read().decode(errors="replace").splitlines()]
    except OSError:
        return f"no log at {log}"
    found = [line for line in lines if line]
    return found[-1] if found else f"{log} is empty"


def wait_ready(
    what: str, child: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path
) -> float:
    """Seconds until ``ready()``; MeasurementError with the log's last line if the daemon
    exits first or is not ready within READY_TIMEOUT."""
    began = time.monotonic()
    while time.monotonic() - began < READY_TIMEOUT:
        if ready():
            return time.monotonic() - began
        if child.poll() is not None:
            raise MeasurementError(
                f"{what} exited ({child.returncode}) instead of starting: "
                f"{last_log_line(log)} (log: {log})"
            )
        time.sleep(0.1)
    raise MeasurementError(
        f"{what} did not answer within {READY_TIMEOUT:.0f} s: {last_log_line(log)} (log: {log})"
    )


def start_dockerd(engine: EngineConfig, say: Say) -> Started:
    layout = Layout.of(engine)
    assert layout.socket is not None  # the plan starts dockerd only on a unix socket
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.data_root.mkdir(parents=True, exist_ok=True)
    argv = ["dockerd", "-H", engine.docker_host, "--data-root", str(layout.data_root)]
    argv += ["--exec-root", str(layout.exec_root), "--pidfile", str(layout.pidfile)]
    say(f"starting dockerd on {engine.docker_host} (data root {layout.data_root})")
    started, child = spawn([*argv, *DOCKERD_FLAGS], layout.dockerd_log)
    Record(layout.record).update(dockerd=started)
    docker = Docker.of(engine)
    seconds = wait_ready(
        "dockerd", child, lambda: docker.server_version()[0] is not None, layout.dockerd_log
    )
    say(f"dockerd answers after {seconds:.1f} s (pid {started.pid})")
    return started


def start_registry(engine: EngineConfig, say: Say) -> Started:
    layout, registry = Layout.of(engine), Registry.parse(engine.registry)
    host = "127.0.0.1" if registry.hostname == "localhost" else registry.hostname
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    layout.registry_data.mkdir(parents=True, exist_ok=True)
    layout.registry_config.write_text(
        registry_config(layout.registry_data, f"{host}:{registry.port}")
    )
    say(f"starting the registry on {registry.host} (storage {layout.registry_data})")
    argv = ["docker-registry", "serve", str(layout.registry_config)]
    started, child = spawn(argv, layout.registry_log)
    Record(layout.record).update(registry=started)
    seconds = wait_ready(
        "docker-registry",
        child,
        lambda: registry.answers() is None,
        layout.registry_log,
    )
    say(f"registry answers after {seconds:.1f} s (pid {started.pid})")
    return started


def init_swarm(engine: EngineConfig, say: Say) -> None:
    say("initialising a single-node swarm on 127.0.0.1")
    Docker.of(engine).run("swarm", "init", *SWARM_INIT)
    Record(Layout.of(engine).record).update(swarm=True)


def leave_swarm(engine: EngineConfig, say: Say) -> None:
    """Remove the containers on swarm networks (the edge), then leave; its services, networks
    and configs go with it."""
    docker = Docker.of(engine)
    networks = docker.run("network", "ls", "--filter", "scope=swarm", "--quiet", check=False)
    for network in networks.stdout.split():
        attached = docker.run(
            "network",
            "inspect",
            "--format",
            "{{range $id, $c := .Containers}}{{$id}} {{end}}",
            network,
            check=False,
        ).stdout.split()
        attached = [c for c in attached if not c.startswith("lb-") and len(c) == 64]
        if attached:
            docker.run("rm", "--force", *attached, timeout=120, check=False)
    done = docker.run("swarm", "leave", "--force", timeout=120, check=False)
    say("left the swarm" if done.returncode == 0 else f"swarm leave: {said(done)}")


def other_dockerd_running(own: Started | None) -> bool:
    for candidate in psutil.process_iter(["pid", "name"]):
        if candidate.info["name"] == "dockerd" and (own is None or candidate.pid != own.pid):
            return True
    return False


def stop_dockerd(engine: EngineConfig, started: Started, say: Say) -> None:
    """Stop it, then undo what it leaves behind: nsfs mounts under its exec root, the
    docker_gwbridge network and device (only when no other dockerd runs here: the device's
    name is the same for every engine on a host), its runtime files."""
    layout = Layout.of(engine)
    docker = Docker.of(engine)
    # docker_gwbridge is one device per host, not per engine: another dockerd may use it.
    alone = not other_dockerd_running(started)
    if alone and started.alive and docker.server_version()[0] is not None:
        docker.run("network", "rm", GWBRIDGE, check=False)
    say(stop(started))
    stuck = mounts.unmount_under(layout.exec_root)
    if stuck:
        say(f"could not unmount: {', '.join(stuck)}")
    if alone and shutil.which("ip"):
        if subprocess.run(["ip", "link", "show", GWBRIDGE], capture_output=True).returncode == 0:
            subprocess.run(["ip", "link", "delete", GWBRIDGE], capture_output=True)
            say(f"removed the {GWBRIDGE} device dockerd left")
    shutil.rmtree(layout.exec_root, ignore_errors=True)
    for leftover in (layout.pidfile, layout.socket):
        if leftover is not None:
            leftover.unlink(missing_ok=True)
