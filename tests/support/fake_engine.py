"""An in-process stand-in for a Docker Swarm engine, at the docker CLI's edge.

``FakeEngine.run(args, stdin)`` answers the docker commands the swarm target uses (configs,
networks, the edge container, a service with its UpdateStatus and tasks, image pulls) the
way dockerd 20.10 does, closely enough to drive gates.targets.swarm through its logic
without an engine: a rolling update completes, or Swarm rolls it back by itself when the
image crashes or never gets ready, leaving the reasons where Swarm leaves them. It also
serves the environment's URL (one real HTTP server on 127.0.0.1), answering as the release
the service runs, so the deploy's verification through the URL is real HTTP.

``images`` maps an image reference to how its tasks behave: "ok", "crash" or "notready"; a
reference missing from it is not in the registry. ``pending`` holds UpdateStatus states to
report before the final one (an update still in progress, as after a kill -9).

The URL answers only while an edge container (``*-edge``) runs: otherwise a request finds the
connection closed, as when nothing listens. ``edge_broken`` makes a running edge answer
nothing, too; ``kill_edge_on_update`` kills the edge (exit 137) when a service update is
submitted, as ``docker kill`` a few seconds into a deploy.
"""

import base64
import http.server
import json
import subprocess
import threading
from typing import Any

import pytest

TASK_ID = "t" * 25
CONTAINER_ID = "c" * 64
# Flags of service create/update that take no value.
SWITCHES = {"--detach", "--no-resolve-image", "--with-registry-auth"}


class FakeEngine:
    def __init__(self) -> None:
        self.configs: dict[str, dict[str, Any]] = {}
        self.networks: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.tasks: list[dict[str, Any]] = []
        self.images: dict[str, str] = {}
        self.pending: list[str] = []
        self.registry_down = False
        self.unreachable = False
        self.edge_broken = False
        self.kill_edge_on_update = False
        self.calls: list[tuple[str, ...]] = []
        self.scrapes = 0
        self._ids = 0
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # what the URL answers -------------------------------------------------------------
    def edge_answers(self) -> bool:
        return not self.edge_broken and any(
            name.endswith("-edge") and c["State"]["Running"] for name, c in self.containers.items()
        )

    def kill_edge(self) -> None:
        for name, container in self.containers.items():
            if name.endswith("-edge"):
                container["State"] = {"Running": False, "Status": "exited", "ExitCode": 137}

    def serving(self) -> str | None:
        """The release the service's tasks serve, if they serve at all."""
        if not self.edge_answers():
            return None
        for service in self.services.values():
            container = service["Spec"]["TaskTemplate"]["ContainerSpec"]
            if self.images.get(container["Image"]) == "ok":
                env = dict(v.split("=", 1) for v in container.get("Env") or ())
                return env.get("RELEASE_ID")
        return None

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        engine = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the handler's API
                if not engine.edge_answers():  # nothing listens: the connection is closed
                    self.close_connection = True
                    return
                release = engine.serving()
                if self.path == "/edge-health":
                    status, body, headers = 200, b"{}", {}
                elif release is None:
                    status, body, headers = 503, b"{}", {}
                elif self.path == "/health":
                    status, body = 200, b'{"status": "healthy", "version": "1.0"}'
                    headers = {"X-Release-ID": release}
                elif self.path == "/metrics":
                    status, body = 200, b"requests_total 1.0\n"
                    engine.scrapes += 1
                    headers = {"X-Gates-Replica": f"10.0.0.{engine.scrapes % 2}:8000"}
                else:
                    status, body = 200, b'{"status": "ready"}'
                    headers = {"X-Release-ID": release}
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    # the docker CLI ---------------------------------------------------------------------
    def run(self, args: tuple[str, ...], stdin: str | None) -> "subprocess.CompletedProcess[str]":
        self.calls.append(args)
        if self.unreachable:
            return self._fail("Cannot connect to the Docker daemon at unix:///fake.sock.")
        kind, verb, rest = args[0], args[1] if len(args) > 1 else "", list(args[2:])
        handler = getattr(self, f"_{kind}_{verb}", None)
        if kind == "inspect":
            return self._inspect(args[2], args[3])
        if handler is None:
            raise AssertionError(f"the fake engine does not know docker {' '.join(args)}")
        result: subprocess.CompletedProcess[str] = handler(rest, stdin)
        return result

    def _ok(self, out: str = "") -> "subprocess.CompletedProcess[str]":
        return subprocess.CompletedProcess([], 0, out, "")

    def _fail(self, err: str) -> "subprocess.CompletedProcess[str]":
        return subprocess.CompletedProcess([], 1, "", f"{err}\n")

    def _new_id(self) -> str:
        self._ids += 1
        return f"id{self._ids:023d}"

    def _inspect(self, kind: str, name: str) -> "subprocess.CompletedProcess[str]":
        found = {
            "config": self.configs,
            "container": self.containers,
            "service": self.services,
            "network": {n: {"Name": n} for n in self.networks},
            "task": {t["ID"]: t["inspect"] for t in self.tasks},
        }[kind]
        if kind == "container" and name == CONTAINER_ID:
            found = {CONTAINER_ID: self._task_container()}
        if name not in found:
            return self._fail(f"Error response from daemon: {kind} {name} not found")
        return self._ok(json.dumps([found[name]]))

    def _task_container(self) -> dict[str, Any]:
        log = [{"ExitCode": 1, "Output": "not ready: /ready answered 503 SERVICE UNAVAILABLE\n"}]
        log.append({"ExitCode": 1, "Output": "not ready: nothing listens on :8000\n"})
        return {"State": {"Health": {"Status": "unhealthy", "Log": log}}}

    # configs ----------------------------------------------------------------------------
    def _config_create(self, rest: list[str], stdin: str | None) -> Any:
        labels = dict(rest[i + 1].split("=", 1) for i, a in enumerate(rest) if a == "--label")
        name = rest[-2]
        if name in self.configs:
            return self._fail(
                f"Error response from daemon: rpc error: config {name} already exists"
            )
        config_id = self._new_id()
        data = base64.b64encode((stdin or "").encode()).decode()
        self.configs[name] = {
            "ID": config_id,
            "Spec": {"Name": name, "Labels": labels, "Data": data},
        }
        return self._ok(config_id + "\n")

    def _config_ls(self, rest: list[str], stdin: str | None) -> Any:
        key, value = rest[rest.index("--filter") + 1].removeprefix("label=").split("=", 1)
        names = [n for n, c in self.configs.items() if c["Spec"]["Labels"].get(key) == value]
        return self._ok("".join(f"{n}\n" for n in names))

    def _config_inspect(self, rest: list[str], stdin: str | None) -> Any:
        return self._ok(json.dumps([self.configs[n] for n in rest]))

    def _config_rm(self, rest: list[str], stdin: str | None) -> Any:
        for wanted in rest:
            for name, config in list(self.configs.items()):
                if wanted in (name, config["ID"]):
                    del self.configs[name]
                    break
            else:
                return self._fail(f"Error response from daemon: config {wanted} not found")
        return self._ok()

    # network, edge container, image ---------------------------------------------------------
    def _network_create(self, rest: list[str], stdin: str | None) -> Any:
        self.networks.add(rest[-1])
        return self._ok()

    def _network_rm(self, rest: list[str], stdin: str | None) -> Any:
        self.networks.discard(rest[-1])
        return self._ok()

    def _container_run(self, rest: list[str], stdin: str | None) -> Any:
        name = rest[rest.index("--name") + 1]
        labels = dict(rest[i + 1].split("=", 1) for i, a in enumerate(rest) if a == "--label")
        self.containers[name] = {
            "Config": {"Labels": labels},
            "State": {"Running": True, "Status": "running", "ExitCode": 0},
        }
        return self._ok(self._new_id())

    def _container_start(self, rest: list[str], stdin: str | None) -> Any:
        self.containers[rest[-1]]["State"] = {"Running": True, "Status": "running", "ExitCode": 0}
        return self._ok()

    def _container_logs(self, rest: list[str], stdin: str | None) -> Any:
        return self._ok("[WARNING] (1) : Server app/task1 is DOWN\n")

    def _container_rm(self, rest: list[str], stdin: str | None) -> Any:
        self.containers.pop(rest[-1], None)
        return self._ok()

    def _image_pull(self, rest: list[str], stdin: str | None) -> Any:
        reference = rest[-1]
        if self.registry_down:
            return self._fail(
                'Error response from daemon: Get "http://127.0.0.1:9/v2/": dial tcp '
                "127.0.0.1:9: connect: connection refused"
            )
        if reference not in self.images:
            return self._fail(f"Error response from daemon: manifest for {reference} not found")
        return self._ok(reference)

    # the service ------------------------------------------------------------------------------
    def _spec_from(self, rest: list[str], spec: dict[str, Any]) -> dict[str, Any]:
        container = spec["TaskTemplate"]["ContainerSpec"]
        env = dict(v.split("=", 1) for v in container.get("Env") or ())
        labels = dict(spec.get("Labels") or {})
        i = 0
        while i < len(rest) - 1:
            flag = rest[i]
            if flag in SWITCHES:
                i += 1
                continue
            value = rest[i + 1]
            if flag == "--image":
                container["Image"] = value
            elif flag in ("--env", "--env-add"):
                key, _, val = value.partition("=")
                env[key] = val
            elif flag == "--env-rm":
                env.pop(value, None)
            elif flag in ("--label", "--label-add"):
                key, _, val = value.partition("=")
                labels[key] = val
            elif flag == "--replicas":
                spec["Mode"] = {"Replicated": {"Replicas": int(value)}}
            elif flag.startswith("--placement-pref"):
                placement = spec["TaskTemplate"].setdefault("Placement", {})
                wanted = {"Spread": {"SpreadDescriptor": value.removeprefix("spread=")}}
                kept = [p for p in placement.get("Preferences") or [] if p != wanted]
                placement["Preferences"] = kept + ([] if flag.endswith("-rm") else [wanted])
            i += 2
        container["Env"] = [f"{k}={v}" for k, v in env.items()]
        spec["Labels"] = labels
        return spec

    def _node_ls(self, rest: list[str], stdin: str | None) -> Any:
        return self._ok("fake-node Ready\n")  # one node, always up

    def _service_create(self, rest: list[str], stdin: str | None) -> Any:
        name = rest[rest.index("--name") + 1]
        spec = {"Name": name, "TaskTemplate": {"ContainerSpec": {"Image": rest[-1]}}}
        spec = self._spec_from(rest[:-1], spec)
        self.services[name] = {"Spec": spec, "UpdateStatus": None, "PreviousSpec": None}
        self._start_tasks(spec)
        return self._ok(self._new_id())

    def _service_update(self, rest: list[str], stdin: str | None) -> Any:
        service = self.services[rest[-1]]
        previous = json.loads(json.dumps(service["Spec"]))
        service["PreviousSpec"] = previous
        service["Spec"] = self._spec_from(rest[:-1], json.loads(json.dumps(previous)))
        service["UpdateStatus"] = None
        if self.kill_edge_on_update:
            self.kill_edge()
        image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        if self.images.get(image) == "ok":
            self.pending += ["updating", "completed"]
            self._start_tasks(service["Spec"])
        else:
            self._fail_task(image, self.images.get(image, "missing"))
            self.pending += ["updating", "rollback_started", "rollback_completed"]
            service["Spec"], service["PreviousSpec"] = previous, None
        return self._ok(rest[-1])

    def _start_tasks(self, spec: dict[str, Any]) -> None:
        image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
        for task in self.tasks:
            task["ps"]["DesiredState"] = "Shutdown"
        if self.images.get(image) != "ok":
            self._fail_task(image, self.images.get(image, "missing"))
            return
        replicas = spec.get("Mode", {}).get("Replicated", {}).get("Replicas", 1)
        for slot in range(replicas):
            ps = {"ID": f"r{slot}" + "x" * 23, "Image": image, "DesiredState": "Running"}
            self.tasks.insert(0, {"ID": ps["ID"], "ps": {**ps, "CurrentState": "Running 1s"}})
            self.tasks[0]["inspect"] = {"Status": {"State": "running"}}

    def _fail_task(self, image: str, behaviour: str) -> None:
        error = {"crash": "task: non-zero exit (3)", "notready": ""}.get(behaviour, "No such image")
        ps = {"ID": TASK_ID, "Image": image, "DesiredState": "Shutdown", "Error": error}
        status = {"State": "failed" if error else "complete", "Err": error}
        status["ContainerStatus"] = {"ContainerID": CONTAINER_ID}
        self.tasks.insert(0, {"ID": TASK_ID, "ps": {**ps, "CurrentState": "Failed"}})
        self.tasks[0]["inspect"] = {"Status": status}

    def _service_inspect(self, rest: list[str], stdin: str | None) -> Any:
        service = self.services[rest[-1]]
        if self.pending:
            state = self.pending.pop(0)
            message = {
                "updating": "update in progress",
                "completed": "update completed",
                "rollback_started": "update rolled back due to failure or early termination "
                f"of task {TASK_ID}",
                "rollback_completed": "rollback completed",
            }[state]
            service["UpdateStatus"] = {"State": state, "Message": message}
        return self._ok(json.dumps(service["UpdateStatus"]))

    def _service_ps(self, rest: list[str], stdin: str | None) -> Any:
        return self._ok("".join(json.dumps(t["ps"]) + "\n" for t in self.tasks))

    def _service_logs(self, rest: list[str], stdin: str | None) -> Any:
        return self._ok("[ERROR] Exception in worker process\nRuntimeError: broken release\n")

    def _service_rollback(self, rest: list[str], stdin: str | None) -> Any:
        service = self.services[rest[-1]]
        service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], None
        self.pending += ["rollback_started", "rollback_completed"]
        return self._ok()

    def _service_rm(self, rest: list[str], stdin: str | None) -> Any:
        self.services.pop(rest[-1], None)
        self.tasks.clear()
        return self._ok()


def install(monkeypatch: pytest.MonkeyPatch, engine: FakeEngine) -> None:
    """Make the swarm target's docker CLI talk to ``engine``."""
    from gates import docker

    real_run = subprocess.run

    def run(argv: list[str], **kwargs: Any) -> "subprocess.CompletedProcess[str]":
        if argv[0] != "/usr/bin/docker":
            return real_run(argv, **kwargs)
        return engine.run(tuple(argv[1:]), kwargs.get("input"))

    real_which = docker.shutil.which

    def which(name: str, *args: Any, **kwargs: Any) -> str | None:
        return "/usr/bin/docker" if name == "docker" else real_which(name, *args, **kwargs)

    monkeypatch.setattr(docker.shutil, "which", which)
    monkeypatch.setattr(docker.subprocess, "run", run)
