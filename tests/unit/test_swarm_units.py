"""The swarm target's parts that need no engine: config, image references, the edge's
configuration, the engine-backed ledger (over a stand-in history), the lock's idea of a
holder that is gone, the docker runner's one-line errors, and URLs for the measuring gates."""

import http.server
import os
import socket
import stat
import threading
from datetime import datetime, timedelta, timezone

import pytest

from gates import httpget
from gates.config import load_config
from gates.ledger import Ledger
from gates.outcome import COULD_NOT_MEASURE, ConfigError, GateError
from gates.docker import Docker, DockerRefused, EngineUnreachable
from gates.release.image import ImageRefused, pinned_reference
from gates.targets import target_for
from gates.targets import LiveRelease
from gates.targets.local.target import LocalTarget
from gates.targets.swarm import ledger as swarm_ledger
from gates.targets.swarm import lock
from gates.targets.swarm.edge import render
from gates.targets.swarm.service import placement
from gates.targets.swarm.environment import SwarmEnvironment
from gates.targets.swarm.history import Reading, Record
from gates.targets.swarm.ledger import EngineLedger
from gates.targets.swarm.target import SwarmTarget
from support.pipeline_project import make_project

DIGEST = "ab" * 32


def project(tmp_path, staging="", engine=""):
    path = make_project(tmp_path)
    text = path.read_text().replace(
        "[tool.pipeline.environments.staging]\nport = 18101\n",
        "[tool.pipeline.environments.staging]\nport = 18101\n" + staging,
    )
    path.write_text(text + engine)
    return load_config(path, environ={"PIPELINE_STATE_DIR": str(tmp_path / "state")})


SWARM = 'target = "swarm"\nurl = "http://127.0.0.1:18080"\n'


def test_an_environment_is_local_unless_it_says_swarm(tmp_path):
    config = project(tmp_path)
    staging = config.environment("staging")
    assert (staging.target, staging.base_url, staging.replicas) == (
        "local",
        "http://127.0.0.1:18101",
        2,
    )
    assert isinstance(target_for(config, "staging"), LocalTarget)


def test_a_swarm_environment_is_named_and_published_from_its_config(tmp_path):
    config = project(tmp_path, SWARM + "replicas = 3\n")
    target = target_for(config, "staging")
    assert isinstance(target, SwarmTarget)
    env = SwarmEnvironment(config, "staging")
    assert (target.base_url, env.replicas) == ("http://127.0.0.1:18080", 3)
    assert (env.service, env.network, env.edge, env.lock) == (
        "mini-staging",
        "mini-staging-net",
        "mini-staging-edge",
        "gates.lock.mini-staging",
    )
    assert env.publish == "127.0.0.1:18080:8080"


@pytest.mark.parametrize(
    "url, publish",
    [
        ("http://[::1]:18080", "[::1]:18080:8080"),
        ("https://staging.example.com", "443:8080"),  # a name: every interface of the node
        ("http://staging.example.com:8080/", "8080:8080"),
    ],
)
def test_the_edge_is_published_on_the_urls_address(tmp_path, url, publish):
    config = project(tmp_path, f'target = "swarm"\nurl = "{url}"\nstack = "web-staging"\n')
    env = SwarmEnvironment(config, "staging")
    assert (env.publish, env.stack, env.base_url) == (publish, "web-staging", url.rstrip("/"))


@pytest.mark.parametrize(
    "staging, message",
    [
        ('url = "http://127.0.0.1:9999"', "url is for swarm environments; a local one serves on"),
        ('target = "k8s"', "target must be one of local or swarm, got 'k8s'"),
        ('target = "swarm"\nurl = "http://127.0.0.1:18080/api"', "url must be http"),
        ('target = "swarm"\nurl = "ftp://x"', "url must be http"),
        ('target = "swarm"\nstack = "Has_Caps"', "stack must be lower-case letters"),
        ('target = "swarm"\nreplicas = 0', "replicas must be a whole number >= 1"),
    ],
)
def test_bad_swarm_settings_are_one_line_naming_the_key(tmp_path, staging, message):
    with pytest.raises(ConfigError, match=message) as caught:
        project(tmp_path, staging + "\n")
    assert "[tool.pipeline.environments.staging]" in str(caught.value)
    assert "\n" not in str(caught.value)


def manifest(reference, digest):
    return {"release_id": "r1", "image": {"reference": reference, "digest": digest}}


def test_a_release_is_deployed_to_swarm_only_by_its_recorded_digest():
    good = f"127.0.0.1:15000/api@sha256:{DIGEST}"
    assert pinned_reference(manifest(good, f"sha256:{DIGEST}")) == good
    refused = {
        "no image in its manifest": {"release_id": "r1", "image": {"built": False}},
        "is not a reference by digest": manifest("127.0.0.1:15000/api:latest", ""),
        "does not carry the manifest's digest": manifest(good, "sha256:" + "cd" * 32),
    }
    for message, bad in refused.items():
        with pytest.raises(ImageRefused, match=message):
            pinned_reference(bad)


def test_the_edge_finds_tasks_by_dns_checks_readiness_and_retries(tmp_path):
    config = project(tmp_path, SWARM + "replicas = 3\n")
    cfg = render(SwarmEnvironment(config, "staging"))
    for line in (
        "nameserver dns 127.0.0.11:53",
        "retry-on all-retryable-errors",
        "option redispatch 1",
        "option httpchk GET /ready",
        "server-template task 6 tasks.mini-staging:8000 check",  # room for a start-first update
        "bind :8080",
        "timeout server 5s",  # a task that died with a request in flight: retried after 5 s
    ):
        assert line in cfg
    slow = project(tmp_path / "slow", SWARM + "edge_try_timeout = 12.5\n")
    assert "timeout server 12.5s" in render(SwarmEnvironment(slow, "staging"))


def test_the_tasks_are_spread_over_the_nodes_unless_told_otherwise(tmp_path):
    spread = project(tmp_path, SWARM)
    assert placement(spread.environment("staging"), "--placement-pref") == [
        "--placement-pref",
        "spread=node.id",
    ]
    zones = project(tmp_path / "zones", SWARM + 'spread_over = "node.labels.zone"\n')
    assert placement(zones.environment("staging"), "--placement-pref-add") == [
        "--placement-pref-add",
        "spread=node.labels.zone",
    ]
    anywhere = project(tmp_path / "anywhere", SWARM + 'spread_over = ""\n')
    assert placement(anywhere.environment("staging"), "--placement-pref") == []


class FakeHistory:
    """The engine's append-only records, in memory; ``broken`` makes appends fail."""

    stack = "mini-production"
    prefix = "gates.mini-production."

    def __init__(self):
        self.records_ = []
        self.broken = False

    def name(self, seq):
        return f"{self.prefix}{seq:08d}"

    def read(self):
        return Reading(list(self.records_), [], [])

    def append(self, kind, data):
        if self.broken:
            raise DockerRefused("docker config create failed: the engine said no")
        seq = len(self.records_) + 1
        self.records_.append(Record(self.name(seq), seq, kind, dict(data)))
        return seq


def ledgers(tmp_path, history):
    """A fresh runner's view each call: an empty file ledger, the same engine history."""
    count = len(list(tmp_path.glob("runner*")))
    disk = Ledger(tmp_path / f"runner{count}" / "ledger.sqlite")
    return EngineLedger(disk, {"production": history})


MANIFEST = {
    "release_id": "aaa",
    "service": {"name": "api", "version": "1.0"},
    "source": {"commit": "c1", "commit_time": "2030-01-01T00:00:00+00:00"},
    "build": {"time": "2030-01-01T00:01:00+00:00"},
    "image": {"reference": f"r/api@sha256:{DIGEST}", "digest": f"sha256:{DIGEST}"},
}


def test_a_swarm_environments_history_is_seen_whole_by_a_fresh_runner(tmp_path):
    history = FakeHistory()
    first = ledgers(tmp_path, history)
    first.record_release("production", MANIFEST)
    one = first.start_deploy("production", "aaa", "deploy", {"key": "aaa-1"}, previous=None)
    first.set_state(one, "switching")
    first.set_state(one, "succeeded")
    two = first.start_deploy("production", "bbb", "deploy", {"key": "bbb-1"}, previous="aaa")
    first.set_state(two, "failed", "Swarm rolled it back")
    first.record_gate("production", "aaa", "slo", "passed", 0, deployment="aaa-1")
    first.record_event("production", "down", "2/2")
    first.keep("production", "perf", {"release_id": "aaa", "latencies_ms": [1.0]})

    second = ledgers(tmp_path, history)
    rows = [(r["release_id"], r["state"], r["error"]) for r in second.deploys("production")]
    assert rows == [("aaa", "succeeded", None), ("bbb", "failed", "Swarm rolled it back")]
    assert second.last_good("production", exclude_deployment="bbb-1")["release_id"] == "aaa"
    assert [g["gate"] for g in second.gate_results("production", "aaa")] == ["slo"]
    assert second.build("aaa")["commit_time"] == "2030-01-01T00:00:00+00:00"  # DORA's lead time
    assert second.manifests["aaa"]["image"] == MANIFEST["image"]
    assert second.kept[("production", "perf")] == [{"release_id": "aaa", "latencies_ms": [1.0]}]
    assert second.in_flight("production") == []
    # Nothing of the swarm environment went to either runner's file.
    for runner in tmp_path.glob("runner*"):
        assert Ledger(runner / "ledger.sqlite").deploys() == []


def test_a_write_the_engine_refuses_fails_and_never_shows(tmp_path):
    history = FakeHistory()
    book = ledgers(tmp_path, history)
    one = book.start_deploy("production", "aaa", "deploy", {"key": "aaa-1"}, previous=None)
    history.broken = True
    with pytest.raises(GateError) as caught:
        book.set_state(one, "succeeded")
    assert caught.value.exit_code == COULD_NOT_MEASURE
    assert book.deploys("production")[0]["state"] == "started"
    with pytest.raises(GateError):
        book.start_deploy("production", "bbb", "deploy", {"key": "bbb-1"}, previous="aaa")
    assert [r["release_id"] for r in book.deploys("production")] == ["aaa"]


def test_the_release_record_the_engine_stored_first_stands_in_every_environment(
    tmp_path, monkeypatch
):
    """Whichever environment's history is read first, the earliest record of a release id
    (the engine's own time) gives its image; a later one naming another is refused."""
    monkeypatch.setattr(swarm_ledger, "_warned", set())
    forged = {**MANIFEST, "image": {"reference": "r/api@sha256:" + "cd" * 32}}
    forged["image"]["digest"] = "sha256:" + "cd" * 32
    staging, production = FakeHistory(), FakeHistory()
    at = datetime(2030, 1, 1, tzinfo=timezone.utc)
    staging.records_ = [Record("gates.s.00000001", 1, "release", MANIFEST, at)]
    later = at + timedelta(seconds=1)
    production.records_ = [Record("gates.p.00000001", 1, "release", forged, later)]
    disk = Ledger(tmp_path / "ledger.sqlite")
    book = EngineLedger(disk, {"production": production, "staging": staging})
    assert book.manifests["aaa"]["image"] == MANIFEST["image"]
    assert book.refused == [
        f"gates.p.00000001: it points release aaa at the image sha256:{'cd' * 32}, but "
        f"gates.s.00000001 recorded it first with sha256:{DIGEST}"
    ]
    with pytest.raises(ImageRefused, match="a release id never changes its image"):
        book.record_release("production", forged)
    book.record_release("production", MANIFEST)  # the same image: recorded where it deploys
    assert production.records_[-1].data == MANIFEST


def test_local_environments_beside_swarm_ones_keep_their_file_ledger(tmp_path):
    disk_path = tmp_path / "ledger.sqlite"
    Ledger(disk_path).start_deploy("staging", "old", "deploy", {"key": "old-1"}, previous=None)
    book = EngineLedger(Ledger(disk_path), {"production": FakeHistory()})
    staging = book.start_deploy("staging", "aaa", "deploy", {"key": "aaa-1"}, previous="old")
    book.set_state(staging, "succeeded")
    production = book.start_deploy("production", "aaa", "deploy", {"key": "a"}, previous=None)
    assert staging != production
    assert [r["release_id"] for r in book.deploys("staging")] == ["old", "aaa"]
    on_disk = Ledger(disk_path).deploys()
    assert [(r["environment"], r["release_id"], r["state"]) for r in on_disk] == [
        ("staging", "old", "started"),
        ("staging", "aaa", "succeeded"),
    ]


def test_a_lock_holder_is_gone_only_when_known_to_have_ended():
    me = lock.me()
    assert not lock.holder_is_gone(me)
    host, _, pid, _, started = me.split(" ")
    assert lock.holder_is_gone(f"{host} pid {pid} started {float(started) - 100}")  # pid reused
    assert lock.holder_is_gone(f"{host} pid 999999999 started 1.0")
    assert not lock.holder_is_gone(f"elsewhere.example pid {pid} started {started}")
    assert lock.holder_is_gone("garbage")


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """A ``docker`` on PATH that prints ``$FAKE_DOCKER_ERR`` on stderr and exits 1."""
    script = tmp_path / "bin" / "docker"
    script.parent.mkdir()
    script.write_text('#!/bin/sh\necho "$FAKE_DOCKER_ERR" >&2\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return monkeypatch


@pytest.mark.parametrize(
    "said, error, words",
    [
        (
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?",
            EngineUnreachable,
            "the container engine at unix:///x.sock is unreachable: Cannot connect",
        ),
        (
            'error during connect: Get "http://docker.example.com/v1.50/version": ssh: no route',
            EngineUnreachable,
            "is unreachable: error during connect",
        ),
        (
            "Error response from daemon: This node is not a swarm manager.",
            DockerRefused,
            "docker service ls failed: Error response from daemon: This node is not a swarm",
        ),
    ],
)
def test_docker_failures_are_one_line_exit_3(fake_docker, said, error, words):
    fake_docker.setenv("FAKE_DOCKER_ERR", said)
    with pytest.raises(error) as caught:
        Docker("unix:///x.sock").run("service", "ls")
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == COULD_NOT_MEASURE


def test_no_docker_cli_is_exit_3(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnreachable, match="the docker CLI is not installed"):
        Docker().run("version")


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the handler's API
        body = b'{"path": "%s"}' % self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_measuring_gates_reach_an_environment_by_its_url():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        port = server.server_address[1]
        url = f"http://{socket.gethostbyname('localhost')}:{port}"
        assert httpget.fetch("/x", url)[2] == b'{"path": "/x"}'
        assert httpget.fetch("/y", port)[2] == b'{"path": "/y"}'  # a port: 127.0.0.1, as ever
        assert httpget.address(url) == f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
    live = LiveRelease("staging", 8101, "r", "1.0", {}, "r-1")
    assert live.base_url == "http://127.0.0.1:8101"
    assert LiveRelease("staging", 8101, "r", "1.0", {}, "r-1", url).base_url == url
