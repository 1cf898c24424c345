"""``gates engine up|down|status --nodes N``: a swarm of N dockerds, each in a network namespace
of its own on this machine, reached the way a persistent swarm is reached from GitHub Actions.

Node k (1..N) is the network namespace ``gates-nk`` with a veth to the bridge ``gates-br0``
(10.231.0.1/24 on the host), at 10.231.0.(k+1). Nothing else on the machine uses that range:
a node is never anything but what this module made. In each node:

- **dockerd**, started ``nsenter --net=/run/netns/gates-nk unshare --uts`` (not ``ip netns
  exec``, which remounts /sys and hides the cgroups) with its own ``--data-root``,
  ``--exec-root``, ``--pidfile``, unix socket (on the host's filesystem, under
  /run/gates-nodes/nk), ``--cgroup-parent`` and ``--bridge=none``, its hostname the node's
  name. Node 1 initialises the swarm (``--advertise-addr`` its address); the others join it
  as managers. Services use ``--endpoint-mode dnsrr`` (no IPVS here), as the swarm target does.
- **sshd** (Debian's openssh-server), on the node's address, port 22, with its own config and
  host key: only the user ``deploy``, by key. Its config sets ``DOCKER_HOST`` to the node's
  socket for the session (``SetEnv``), so the ``docker system dial-stdio`` the docker CLI runs
  over ``ssh://deploy@<node>`` reaches that node's dockerd; ``deploy`` is in the group
  ``gates-node``, which owns the nodes' sockets (and nothing else).
- on node 1, **the registry** (Debian's docker-registry) on <node>:5000, with TLS from a CA
  made here (trusted by every dockerd on this host through
  /etc/docker/certs.d/<node>:5000/ca.crt) and htpasswd (bcrypt) auth for the user ``deploy``.
  It is seeded with the edge and Prometheus images of the engine ``[tool.pipeline.engine]``
  names (the dev engine ``nox -s engine -- up`` makes).

``up`` is idempotent: it starts only what does not answer. It writes what a GitHub environment
would be given to /run/gates-nodes/github-environment.json: DOCKER_HOST, ENGINE_SSH_KEY (a key
made here), ENGINE_SSH_KNOWN_HOSTS (``ssh-keyscan`` of the manager), REGISTRY_USERNAME,
REGISTRY_PASSWORD and PIPELINE_TARGETS. ``down`` removes every node by pid: dockerd, the
containerd and shims a ``kill -9`` leaves, every process in the namespace, the mounts under its
roots, its cgroups, sshd, the registry, the namespace with its veth, and the bridge. The nodes'
data roots, the CA, the keys and the ``deploy`` user stay, so the next ``up`` is warm and the
credentials do not change.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import ssl
import subprocess
import time
from subprocess import Popen
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from gates.docker import Docker, said
from gates.engine import mounts
from gates.engine.daemons import registry_config, spawn, stop, wait_ready
from gates.engine.prerequisites import Missing, Program
from gates.engine.record import Record, Started
from gates.locks import FileLock
from gates.outcome import ConfigError, MeasurementError

BRIDGE = "gates-br0"
SUBNET = "10.231.0"
HOST_ADDRESS = f"{SUBNET}.1"
MAX_NODES = 9
RUN = Path("/run/gates-nodes")
STATE = Path("/var/lib/gates-nodes")
CERTS_D = Path("/etc/docker/certs.d")
OUTPUTS = RUN / "github-environment.json"
USER = "deploy"
GROUP = "gates-node"
REGISTRY_PORT = 5000
RECONNECT_TIMEOUT = 90.0  # s: a restarted node back in its swarm (a bound on a hang)
# What the nodes need on this host, with the Debian package of each.
PROGRAMS = (
    Program("ip", "iproute2"),
    Program("nsenter", "util-linux"),
    Program("unshare", "util-linux"),
    Program("dockerd", "docker.io"),
    Program("docker", "docker.io"),
    Program("sshd", "openssh-server"),
    Program("ssh-keygen", "openssh-client"),
    Program("ssh-keyscan", "openssh-client"),
    Program("docker-registry", "docker-registry"),
    Program("htpasswd", "apache2-utils"),
    Program("openssl", "openssl"),
)
DOCKERD_FLAGS: tuple[str, ...] = ("--storage-driver", "overlay2", "--log-level", "warn")
DOCKERD_FLAGS += ("--bridge", "none", "--iptables=false", "--group", GROUP)
SSHD_CONFIG = """\
ListenAddress {address}:22
HostKey {host_key}
PidFile none
AuthorizedKeysFile {authorized_keys}
AllowUsers {user}
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
SetEnv DOCKER_HOST={docker_host}
"""

Say = Callable[[str], None]


@dataclass(frozen=True)
class Node:
    """Node ``index`` (1-based) of the namespaced swarm."""

    index: int

    @property
    def name(self) -> str:
        return f"gates-n{self.index}"

    @property
    def address(self) -> str:
        return f"{SUBNET}.{self.index + 1}"

    @property
    def netns(self) -> Path:
        return Path("/run/netns") / self.name

    @property
    def veth(self) -> str:
        return f"gates-v{self.index}"

    @property
    def run_dir(self) -> Path:
        return RUN / f"n{self.index}"

    @property
    def data_root(self) -> Path:
        return STATE / f"n{self.index}" / "docker"

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "exec"

    @property
    def socket(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def cgroup_parent(self) -> str:
        return f"/{self.name}"

    @property
    def host_key(self) -> Path:
        return STATE / f"n{self.index}" / "ssh_host_ed25519_key"

    @property
    def record(self) -> Record:
        return Record(self.run_dir / "node.json")

    @property
    def docker(self) -> Docker:
        return Docker(self.docker_host)

    def inside(self, *argv: str) -> list[str]:
        """``argv`` run in this node's network namespace (only: the host's /sys, cgroups)."""
        return ["nsenter", f"--net={self.netns}", *argv]


MANAGER = Node(1)


def registry_host() -> str:
    return f"{MANAGER.address}:{REGISTRY_PORT}"


def nodes(count: int) -> list[Node]:
    if not 1 <= count <= MAX_NODES:
        raise ConfigError(f"--nodes {count}: a swarm of 1 to {MAX_NODES} nodes")
    return [Node(k) for k in range(1, count + 1)]


def existing() -> list[Node]:
    """The nodes there are now (a namespace or a runtime directory of this module)."""
    found = {int(p.name[1:]) for p in RUN.glob("n[0-9]*") if p.name[1:].isdigit()}
    netns = Path("/run/netns")
    if netns.is_dir():
        found |= {
            int(p.name.removeprefix("gates-n"))
            for p in netns.glob("gates-n[0-9]*")
            if p.name.removeprefix("gates-n").isdigit()
        }
    return [Node(k) for k in sorted(found)]


def missing() -> Missing:
    absent = tuple(p for p in PROGRAMS if shutil.which(p.name) is None)
    return Missing(absent, () if os.geteuid() == 0 else ("making network namespaces",))


def started_as(name: str, argv: list[str], log: Path) -> tuple[Started, Popen[bytes]]:
    """``spawn`` recorded under the daemon's own name (argv[0] is nsenter, which execs it)."""
    started, child = spawn(argv, log)
    return replace(started, argv0=name), child


def lock() -> FileLock:
    """One ``up`` or ``down --nodes`` at a time on this machine."""
    RUN.mkdir(parents=True, exist_ok=True)
    return FileLock(RUN / "nodes.lock", "the namespaced nodes", "another `up` or `down --nodes`")


# -- commands -------------------------------------------------------------------------------


def sh(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise MeasurementError(f"{' '.join(argv)}: {said(done)}")
    return done


def link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip", *(("-n", netns) if netns else ()), "link", "show", name]
    return sh(*argv, check=False).returncode == 0


# -- up -------------------------------------------------------------------------------------


def up(count: int, seed_from: Docker, seed_images: list[str], say: Say) -> dict[str, str]:
    """Make (or find) ``count`` nodes and the registry; what a GitHub environment is given."""
    wanted = nodes(count)
    lacking = missing()
    if lacking:
        raise ConfigError(lacking.describe())
    began = time.monotonic()
    ensure_user()
    ensure_bridge(say)
    for node in wanted:
        ensure_namespace(node, say)
        ensure_dockerd(node, say)
    ensure_swarm(wanted, say)
    for node in wanted:
        ensure_sshd(node, say)
    password = ensure_registry(say)
    seed(seed_from, seed_images, password, say)
    outputs = environment(password, seed_images)
    OUTPUTS.write_text(json.dumps(outputs, indent=2) + "\n")
    OUTPUTS.chmod(0o600)
    say(f"{count} node(s) up in {time.monotonic() - began:.1f} s; manager {MANAGER.address}")
    say(f"what a GitHub environment is given: {OUTPUTS}")
    return outputs


def ensure_user() -> None:
    """The group that owns the nodes' sockets and the user ``deploy`` in it; an account
    sshd accepts (not locked: ``*``, no password) with a home for the docker CLI's files."""
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        sh("groupadd", "--system", GROUP)
    try:
        pwd.getpwnam(USER)
    except KeyError:
        home = STATE / "home" / USER
        home.parent.mkdir(parents=True, exist_ok=True)
        sh("useradd", "--system", "--create-home", "--home-dir", str(home), "--shell",
           "/bin/sh", "--groups", GROUP, USER)  # fmt: skip
    sh("usermod", "--password", "*", "--append", "--groups", GROUP, USER)


def ensure_bridge(say: Say) -> None:
    if not link_exists(BRIDGE):
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", BRIDGE)
        say(f"bridge {BRIDGE} {HOST_ADDRESS}/24 made")
    sh("ip", "link", "set", BRIDGE, "up")


def ensure_namespace(node: Node, say: Say) -> None:
    if not node.netns.exists():
        sh("ip", "netns", "add", node.name)
    if not link_exists("eth0", node.name):
        if link_exists(node.veth):
            sh("ip", "link", "delete", node.veth)
        sh("ip", "link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns",
           node.name)  # fmt: skip
        sh("ip", "-n", node.name, "addr", "add", f"{node.address}/24", "dev", "eth0")
        say(f"{node.name}: namespace with {node.address} on {BRIDGE}")
    sh("ip", "link", "set", node.veth, "master", BRIDGE, "up")
    sh("ip", "-n", node.name, "link", "set", "lo", "up")
    sh("ip", "-n", node.name, "link", "set", "eth0", "up")


def answers(node: Node) -> bool:
    return node.socket.exists() and node.docker.server_version()[0] is not None


def ensure_dockerd(node: Node, say: Say) -> None:
    if answers(node):
        return
    started = node.record.started("dockerd")
    if started is not None and started.alive:
        raise MeasurementError(
            f"{node.name}: dockerd (pid {started.pid}) runs but does not answer at "
            f"{node.docker_host}; run `nox -s engine -- down --nodes N` first"
        )
    reap(node, say)
    node.run_dir.mkdir(parents=True, exist_ok=True)
    node.data_root.mkdir(parents=True, exist_ok=True)
    argv = ["dockerd", "-H", node.docker_host, "--data-root", str(node.data_root)]
    argv += ["--exec-root", str(node.exec_root), "--pidfile", str(node.run_dir / "docker.pid")]
    argv += ["--cgroup-parent", node.cgroup_parent, *DOCKERD_FLAGS]
    # unshare --uts: the node's own hostname, so each node has its own name in the swarm.
    script = f'hostname {node.name} && exec "$@"'
    full = node.inside("unshare", "--uts", "sh", "-c", script, "sh", *argv)
    log = node.run_dir / "dockerd.log"
    started, child = started_as("dockerd", full, log)
    node.record.update(dockerd=started)
    seconds = wait_ready(f"{node.name} dockerd", child, lambda: answers(node), log)
    say(f"{node.name}: dockerd answers at {node.docker_host} after {seconds:.1f} s")


def swarm_state(node: Node) -> str:
    return node.docker.ask("info", "--format", "{{.Swarm.LocalNodeState}}")[0] or ""


def settled_state(node: Node, say: Say) -> str:
    """The node's swarm state once it is no longer ``pending``: a dockerd restarted on a data
    root that is in a swarm reconnects to its peers first (several seconds with three
    managers, all of them restarted). ``inactive``: in no swarm; MeasurementError for a
    state ``up`` cannot go on from."""
    deadline = time.monotonic() + RECONNECT_TIMEOUT
    state = swarm_state(node)
    if state == "pending":
        say(f"{node.name}: reconnecting to its swarm")
    while state == "pending" and time.monotonic() < deadline:
        time.sleep(0.5)
        state = swarm_state(node)
    if state not in ("active", "inactive"):
        error = node.docker.ask("info", "--format", "{{.Swarm.Error}}")[0] or ""
        raise MeasurementError(
            f"{node.name}: its swarm state is {state or 'unknown'} after "
            f"{RECONNECT_TIMEOUT:g} s ({error or 'no error given'}); run `nox -s engine -- "
            f"down --nodes N`, move {node.data_root}/swarm away and `up` again for a new swarm"
        )
    return state


def ensure_swarm(wanted: list[Node], say: Say) -> None:
    if settled_state(MANAGER, say) != "active":
        MANAGER.docker.run("swarm", "init", "--advertise-addr", MANAGER.address, timeout=120)
        say(f"{MANAGER.name}: swarm initialised, advertised on {MANAGER.address}")
    for node in wanted[1:]:
        if settled_state(node, say) == "active":
            continue
        token = MANAGER.docker.run("swarm", "join-token", "--quiet", "manager").stdout.strip()
        node.docker.run("swarm", "join", "--token", token, "--advertise-addr", node.address,
                        f"{MANAGER.address}:2377", timeout=120)  # fmt: skip
        say(f"{node.name}: joined the swarm as a manager")


def ssh_key() -> Path:
    """The deploy user's key (made once, kept): what ENGINE_SSH_KEY holds."""
    key = STATE / "ssh" / "deploy_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gates-nodes deploy", "-f",
           str(key))  # fmt: skip
    return key


def ssh_answers(node: Node) -> bool:
    done = sh("ssh-keyscan", "-T", "2", "-t", "ed25519", node.address, check=False)
    return done.returncode == 0 and "ssh-ed25519" in done.stdout


def ensure_sshd(node: Node, say: Say) -> None:
    if ssh_answers(node):
        return
    started = node.record.started("sshd")
    if started is not None:
        say(stop(started, timeout=5))
    if not node.host_key.exists():
        node.host_key.parent.mkdir(parents=True, exist_ok=True)
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(node.host_key))
    authorized = STATE / "authorized_keys"  # read by sshd as the user: not under ssh/ (0700)
    authorized.write_text(Path(f"{ssh_key()}.pub").read_text())
    authorized.chmod(0o644)
    config = node.run_dir / "sshd_config"
    config.write_text(
        SSHD_CONFIG.format(
            address=node.address,
            host_key=node.host_key,
            authorized_keys=authorized,
            user=USER,
            docker_host=node.docker_host,
        )
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    node.run_dir.chmod(0o755)
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"  # sshd re-executes itself: absolute path
    log = node.run_dir / "sshd.log"
    started, child = started_as("sshd", node.inside(sshd, "-D", "-e", "-f", str(config)), log)
    node.record.update(sshd=started)
    seconds = wait_ready(f"{node.name} sshd", child, lambda: ssh_answers(node), log)
    say(f"{node.name}: sshd answers on {node.address}:22 after {seconds:.1f} s")


def ensure_tls() -> tuple[Path, Path]:
    """The CA (made once) and the registry's certificate for its address, signed by it;
    the CA installed where every dockerd here looks for it."""
    tls = STATE / "tls"
    tls.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key, ca_cert = tls / "ca.key", tls / "ca.crt"
    key, cert = tls / "registry.key", tls / "registry.crt"
    if not ca_cert.exists():
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
           "-subj", "/CN=gates-nodes CA", "-keyout", str(ca_key), "-out", str(ca_cert))  # fmt: skip
    if not cert.exists():
        request = tls / "registry.csr"
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj",
           f"/CN={MANAGER.address}", "-keyout", str(key), "-out", str(request))  # fmt: skip
        extensions = tls / "registry.ext"
        extensions.write_text(f"subjectAltName=IP:{MANAGER.address}\n")
        sh("openssl", "x509", "-req", "-in", str(request), "-CA", str(ca_cert), "-CAkey",
           str(ca_key), "-CAcreateserial", "-days", "825", "-extfile", str(extensions),
           "-out", str(cert))  # fmt: skip
    trusted = CERTS_D / registry_host() / "ca.crt"
    trusted.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca_cert, trusted)
    return cert, key


def ensure_password() -> str:
    """The registry password (made once, kept) and its bcrypt htpasswd file."""
    path = STATE / "registry-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    password = path.read_text().strip()
    htpasswd = STATE / "htpasswd"
    done = subprocess.run(
        ["htpasswd", "-iBn", USER], input=password, capture_output=True, text=True, check=True
    )
    htpasswd.write_text(done.stdout.strip() + "\n")
    htpasswd.chmod(0o600)
    return password


def registry_answers() -> bool:
    """The registry serves its API over TLS with the CA made here (200, or 401: it asks for
    credentials)."""
    ca = STATE / "tls" / "ca.crt"
    if not ca.exists():
        return False
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection(
        MANAGER.address, REGISTRY_PORT, context=context, timeout=2
    )
    try:
        connection.request("GET", "/v2/")
        return connection.getresponse().status in (200, 401)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def ensure_registry(say: Say) -> str:
    password = ensure_password()
    if registry_answers():
        return password
    started = MANAGER.record.started("registry")
    if started is not None:
        say(stop(started, timeout=5))
    certificate, key = ensure_tls()
    data = STATE / "registry"
    data.mkdir(parents=True, exist_ok=True)
    config = MANAGER.run_dir / "registry.yml"
    config.write_text(
        registry_config(
            data,
            f"{MANAGER.address}:{REGISTRY_PORT}",
            tls=(certificate, key),
            htpasswd=("gates-nodes", STATE / "htpasswd"),
        )
    )
    log = MANAGER.run_dir / "registry.log"
    argv = MANAGER.inside("docker-registry", "serve", str(config))
    started, child = started_as("docker-registry", argv, log)
    MANAGER.record.update(registry=started)
    seconds = wait_ready("the nodes' registry", child, registry_answers, log)
    say(f"registry answers on https://{registry_host()} after {seconds:.1f} s (TLS, htpasswd)")
    return password


def seeded(image: str) -> str:
    """The name ``image`` (e.g. 127.0.0.1:15000/gates-haproxy:2.6) has in the nodes' registry:
    the same path, the registry's host in front."""
    first, slash, rest = image.partition("/")
    if slash and (":" in first or "." in first or first == "localhost"):
        image = rest
    return f"{registry_host()}/{image}"


def seed(source: Docker, images: list[str], password: str, say: Say) -> None:
    """Push ``images`` from the dev engine to the nodes' registry under :func:`seeded` names,
    with a login kept in a temporary client configuration (never the caller's)."""
    config = RUN / "seed-docker-config"
    config.mkdir(parents=True, exist_ok=True, mode=0o700)
    client = Docker(source.host)
    environ = {"DOCKER_CONFIG": str(config)}
    login = subprocess.run(
        [client.binary(), "login", registry_host(), "--username", USER, "--password-stdin"],
        input=password,
        capture_output=True,
        text=True,
        env={**client.env(), **environ},
        timeout=60,
    )
    if login.returncode != 0:
        raise MeasurementError(f"docker login {registry_host()}: {said(login)}")
    try:
        for image in images:
            if client.image_id(image) is None:
                raise ConfigError(
                    f"{image} is not in the engine at {client.where}: run `nox -s engine -- up` "
                    "first (the nodes' registry is seeded from it)"
                )
            target = seeded(image)
            client.run("tag", image, target)
            pushed = subprocess.run(
                [client.binary(), "push", "--quiet", target],
                capture_output=True,
                text=True,
                env={**client.env(), **environ},
                timeout=600,
            )
            # The engine it came from keeps no reference to the nodes' registry: its image's
            # RepoDigests stay what they were (a tool that reads them finds its own registry).
            untag(client, target)
            if pushed.returncode != 0:
                raise MeasurementError(f"docker push {target}: {said(pushed)}")
            say(f"seeded {target}")
    finally:
        shutil.rmtree(config, ignore_errors=True)


def pipeline_targets(edge: str, prometheus: str) -> str:
    """PIPELINE_TARGETS for this swarm: only the "where" (the registry, the images, staging's
    and production's target and URL on the manager's address)."""
    return (
        f'[engine]\nregistry = "{registry_host()}"\nedge_image = "{edge}"\n'
        f'prometheus_image = "{prometheus}"\n'
        f'[environments.staging]\ntarget = "swarm"\nurl = "http://{MANAGER.address}:8101"\n'
        f'[environments.production]\ntarget = "swarm"\nurl = "http://{MANAGER.address}:8102"\n'
    )


def untag(client: Docker, target: str) -> None:
    """Remove ``target`` (a tag in the nodes' registry) and its digest references from
    ``client``'s engine; the image itself stays under its own names."""
    repository = target.rsplit(":", 1)[0]
    listed = client.run("image", "inspect", "--format", "{{json .RepoDigests}}", target,
                        check=False).stdout.strip()  # fmt: skip
    digests = json.loads(listed) if listed.startswith("[") else []
    mine = [d for d in digests if isinstance(d, str) and d.startswith(f"{repository}@")]
    client.run("rmi", "--no-prune", target, *mine, check=False)


def environment(password: str, images: list[str]) -> dict[str, str]:
    """What a GitHub environment holds to deploy to this swarm (secrets and variables)."""
    known = sh("ssh-keyscan", "-T", "5", MANAGER.address).stdout
    edge, prometheus = (seeded(image) for image in images)
    targets = pipeline_targets(edge, prometheus)
    return {
        "DOCKER_HOST": f"ssh://{USER}@{MANAGER.address}",
        "ENGINE_SSH_KEY": ssh_key().read_text().strip(),
        "ENGINE_SSH_KNOWN_HOSTS": "\n".join(
            line for line in known.splitlines() if line and not line.startswith("#")
        ),
        "REGISTRY_USERNAME": USER,
        "REGISTRY_PASSWORD": password,
        "PIPELINE_TARGETS": targets,
    }


# -- status ---------------------------------------------------------------------------------


def status(count: int, say: Say) -> list[str]:
    """What is not up, one entry per missing piece (empty: all up)."""
    lacking = []
    if not link_exists(BRIDGE):
        lacking.append(f"bridge {BRIDGE}")
    for node in nodes(count):
        if not node.netns.exists():
            lacking.append(f"{node.name} namespace")
            continue
        if not answers(node):
            lacking.append(f"{node.name} dockerd")
        elif swarm_state(node) != "active":
            lacking.append(f"{node.name} swarm")
        if not ssh_answers(node):
            lacking.append(f"{node.name} sshd")
    if not registry_answers():
        lacking.append(f"registry {registry_host()}")
    say("nodes: " + ("all up" if not lacking else "not up: " + ", ".join(lacking)))
    return lacking


# -- down -----------------------------------------------------------------------------------


def down(say: Say) -> None:
    """Remove every node there is (whatever ``--nodes`` says), then the bridge."""
    for node in reversed(existing()):
        remove(node, say)
    if link_exists(BRIDGE):
        sh("ip", "link", "delete", BRIDGE)
        say(f"bridge {BRIDGE} removed")
    OUTPUTS.unlink(missing_ok=True)


def remove(node: Node, say: Say) -> None:
    for name in ("registry", "sshd"):
        started = node.record.started(name)
        if started is not None:
            say(f"{node.name}: {stop(started, timeout=10)}")
    started = node.record.started("dockerd")
    if started is not None:
        say(f"{node.name}: {stop(started, timeout=60)}")
    reap(node, say)
    if node.netns.exists():
        sh("ip", "netns", "delete", node.name)
    if link_exists(node.veth):
        sh("ip", "link", "delete", node.veth)
    shutil.rmtree(node.run_dir, ignore_errors=True)
    say(f"{node.name}: removed (namespace, veth, processes, mounts, cgroups)")


def leftovers(node: Node) -> Iterator[psutil.Process]:
    """Processes that are this node's whatever ``up`` recorded: those in its network namespace
    (dockerd, containerd, sshd, the registry), those whose command line names its exec root
    (containerd's shims), those in its cgroups (the containers' processes)."""
    pids: set[int] = set()
    if node.netns.exists():
        pids |= {int(p) for p in sh("ip", "netns", "pids", node.name, check=False).stdout.split()}
    for cgroup in cgroups(node):
        try:
            pids |= {int(p) for p in (cgroup / "cgroup.procs").read_text().split()}
        except OSError:
            pass
    root = str(node.exec_root)
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(root in part for part in process.info["cmdline"] or ()):
            pids.add(process.info["pid"])
    for pid in sorted(pids - {os.getpid()}):
        try:
            yield psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue


def cgroups(node: Node) -> list[Path]:
    """The node's cgroups in every hierarchy (v1 and v2), deepest first."""
    top = Path("/sys/fs/cgroup")
    found = [p for p in top.glob(f"*/{node.name}") if p.is_dir()]
    found += [top / node.name] if (top / node.name / "cgroup.procs").exists() else []
    every = [d for base in found for d in base.rglob("*") if d.is_dir()] + found
    return sorted(set(every), key=lambda p: len(p.parts), reverse=True)


def reap(node: Node, say: Say) -> None:
    """Kill what is left of the node (after a ``kill -9`` of its dockerd, or of ``up``), undo
    its mounts and remove its cgroups."""
    killed = []
    for process in leftovers(node):
        try:
            process.send_signal(signal.SIGKILL)
            killed.append(process)
        except psutil.Error:
            continue
    psutil.wait_procs(killed, timeout=10)
    if killed:
        say(f"{node.name}: killed {len(killed)} leftover process(es)")
    stuck = mounts.unmount_under(node.exec_root) + mounts.unmount_under(node.data_root)
    if stuck:
        say(f"{node.name}: could not unmount {', '.join(stuck)}")
    for cgroup in cgroups(node):
        try:
            cgroup.rmdir()
        except OSError:
            pass
