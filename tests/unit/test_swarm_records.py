"""A swarm environment's history is checked, not believed (gates.targets.swarm.history and
.ledger), over a stand-in engine (support.fake_engine): records written the way a mistake or
an attacker would (``docker config create``) are refused, reported as a gap, or stop the
command with exit 3 in one line naming the record. tests/e2e/test_swarm_records.py runs the
same on a real engine."""

import base64
import json
import re

import pytest

from gates.targets.swarm import ledger
from gates.targets.swarm.history import seq_spans
from support import fake_engine, history_records
from support.history_records import of_kind, record_name, stored
from support.fake_engine import FakeEngine
from support.fake_swarm_project import Project

STACK = "mini-staging"
PREFIX = history_records.prefix(STACK)


@pytest.fixture
def project(tmp_path, monkeypatch, capsys):
    """A project on a stand-in engine; its commands say their warnings afresh (a process
    says each one once)."""
    monkeypatch.setattr(ledger, "_warned", set())
    engine = FakeEngine()
    fake_engine.install(monkeypatch, engine)
    yield Project(tmp_path, engine, capsys)
    engine.close()


def cli(engine):
    """The docker CLI of support.history_records, over the stand-in engine."""

    def docker(*args, stdin=None):
        done = engine.run(args, stdin)
        assert done.returncode == 0, done.stderr
        return done.stdout

    return docker


def records(engine):
    return stored(cli(engine), STACK)


def forge(engine, labels, data, name=""):
    """Store a record in staging's stack as ``docker config create`` would: ``labels``
    (gates.stack added), ``data`` (text, or JSON of anything else); its name."""
    body = data if isinstance(data, str) else json.dumps(data)
    return history_records.forge(cli(engine), STACK, labels, body, name)


def remove(engine, seq):
    cli(engine)("config", "rm", record_name(STACK, seq))


def test_every_record_names_its_environment_and_seq(project):
    project.release("A")
    project.deploy("A")
    found = records(project.engine)
    assert found
    for seq, (labels, data) in found.items():
        assert labels["gates.environment"] == "staging" and labels["gates.seq"] == str(seq)
        assert (data["environment"], data["seq"]) == ("staging", seq)


def test_a_forged_release_record_is_refused_and_the_first_digest_stands(project, tmp_path):
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    project.deploy("B")
    [first] = of_kind(records(project.engine), "release", release_id=a)
    manifest = records(project.engine)[first][1]
    project.release("FORGED")  # an image the registry has
    forged_image = {"reference": project.references["FORGED"]}
    forged_image["digest"] = forged_image["reference"].rsplit("@", 1)[1]
    seq = max(records(project.engine)) + 1  # in its place, all but the digest
    name = forge(
        project.engine,
        {"gates.seq": seq, "gates.environment": "staging", "gates.kind": "release"},
        {**manifest, "seq": seq, "image": forged_image},
    )

    fresh = tmp_path / "fresh-runner"  # no releases: it knows A only from the history
    code, out, err = project.gates(
        "rollback", "--environment", "staging", "--reason", "drill", state=fresh
    )
    assert code == 0 and f"staging: {b} -> {a}" in out
    spec = project.engine.services[STACK]["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert spec["Image"] == project.references["A"]
    assert (
        f"gates: refused history record {name}: it points release {a} at the image "
        f"{forged_image['digest']}, but {record_name(STACK, first)} recorded it first with "
        f"{manifest['image']['digest']}"
    ) in err
    assert project.history(fresh).manifests[a]["image"] == manifest["image"]


def test_a_deploy_of_a_release_with_another_digest_than_recorded_is_refused(project):
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    project.deploy("B")
    path = project.state / "releases" / a / "manifest.json"
    manifest = json.loads(path.read_text())
    project.release("OTHER")
    reference = project.references["OTHER"]
    digest = reference.rsplit("@", 1)[1]
    path.write_text(json.dumps({**manifest, "image": {"reference": reference, "digest": digest}}))
    code, _, err = project.deploy("A")
    assert code == 1, err
    assert f"release {a}'s manifest names the image {digest}, but the history" in err
    assert [r["release_id"] for r in project.history().deploys("staging")] == [a, b]
    assert project.engine.serving() == b


def test_a_record_naming_another_environment_is_refused(project):
    """In staging's stack, a row that says production: not production's, not staging's."""
    text = project.config.read_text() + (
        '\n[tool.pipeline.environments.production]\nport = 18102\ntarget = "swarm"\n'
        'url = "http://127.0.0.1:9"\n'
    )
    project.config.write_text(text)
    a = project.release("A")
    project.deploy("A")
    row = dict(project.history().deploys("staging")[-1])
    row.pop("id")
    row["environment"] = "production"
    seq = max(records(project.engine)) + 1
    name = forge(
        project.engine,
        {"gates.seq": seq, "gates.kind": "deploys"},
        {"uid": "f" * 32, "environment": "production", "row": row},
    )
    code, out, err = project.gates("dora", "--environment", "production")
    assert "(0 in 30 days)" in out, out
    assert (
        f"gates: refused history record {name}: its data names the environment 'production', "
        f"but it is stored in staging's history (stack {STACK})"
    ) in err
    assert project.history().deploys("production") == []
    assert [r["release_id"] for r in project.history().deploys("staging")] == [a]


def test_a_record_that_is_a_copy_of_another_seq_is_refused(project):
    project.release("A")
    project.deploy("A")
    labels, data = records(project.engine)[2]
    name = forge(project.engine, {**labels}, data)
    _, _, err = project.gates("status")
    assert f"gates: refused history record {name}: its label gates.seq says seq 2, but" in err


def test_a_later_record_of_a_row_may_not_re_point_it(project):
    a, b = project.release("A"), project.release("B")
    project.deploy("A")
    deploy = records(project.engine)[of_kind(records(project.engine), "deploys")[0]][1]
    row, seq = {**deploy["row"], "release_id": b}, max(records(project.engine)) + 1
    labels = {"gates.seq": seq, "gates.kind": "deploys"}
    name = forge(project.engine, labels, {**deploy, "seq": seq, "row": row})
    _, _, err = project.gates("status")
    assert f"gates: refused history record {name}: it changes release_id of the deploys" in err
    assert f"('{a}' -> '{b}')" in err
    assert [r["release_id"] for r in project.history().deploys("staging")] == [a]


def test_a_removed_record_is_a_gap_and_never_rewritten_silently(project, tmp_path):
    project.release("A")
    bad = project.release("BAD", "crash")
    c = project.release("C")
    project.deploy("A")
    assert project.deploy("BAD")[0] == 1
    [failed] = of_kind(records(project.engine), "deploys", release_id=bad, state="failed")
    project.deploy("C")
    remove(project.engine, failed)

    code, out, err = project.gates("status", state=tmp_path / "fresh-runner")
    assert code == 0 and re.search(rf"staging +http\S+ +{c}", out)
    assert (
        f"gates: staging's history (stack {STACK}) has a gap: seq {failed} missing (removed "
        "from the engine"
    ) in err
    assert f"deploy #2 of {bad} (switching) was last recorded before it" in err
    row = project.history().deploys("staging")[1]
    assert (row["release_id"], row["state"]) == (bad, "failed")
    assert row["error"].endswith(
        f"its outcome may have been in the records missing from the history (seq {failed}): "
        "recorded later, from what the service then ran"
    )
    assert project.history().gaps == {"staging": [failed]}


DEPLOYS = {"gates.seq": "{seq}", "gates.kind": "deploys"}
MALFORMED = [
    ({"gates.kind": "deploys"}, "{}", "it has no gates.seq label"),
    ({**DEPLOYS, "gates.seq": "seven"}, "{}", "its gates.seq label is 'seven'"),
    ({"gates.seq": "{seq}"}, "{}", "it has no gates.kind label"),
    (DEPLOYS, "{not json", "its data is not JSON"),
    (DEPLOYS, "[1]", "its data is a JSON list"),
    (DEPLOYS, '{"uid": "u"}', "a record of deploys without a row"),
    ({**DEPLOYS, "gates.kind": "events"}, '{"row": {}}', "a record of events without a uid"),
    ({**DEPLOYS, "gates.kind": "release"}, '{"image": {}}', "a release record without release_id"),
    (
        DEPLOYS,
        '{"uid": "u", "row": {"environment": "staging", "state": "bogus"}}',
        "its row does not fit the deploys table",
    ),
]


@pytest.mark.parametrize("labels, data, problem", MALFORMED)
def test_a_malformed_record_is_exit_3_in_one_line_naming_it(project, labels, data, problem):
    project.release("A")
    project.deploy("A")
    seq = max(records(project.engine)) + 1
    name = forge(project.engine, {k: v.format(seq=seq) for k, v in labels.items()}, data)
    for command in (("status",), ("deploy", "--environment", "staging", "--release", "latest")):
        code, _, err = project.gates(*command)
        assert code == 3, (command, err)
        assert "Traceback" not in err and "internal error" not in err
        assert len(err.strip().splitlines()) == 1, err
        assert f"history record {name} is malformed: {problem}" in err, err


def test_a_record_name_without_its_seq_is_malformed(project):
    project.release("A")
    project.deploy("A")
    name = forge(project.engine, {"gates.seq": "9", "gates.kind": "events"}, "{}", PREFIX + "9")
    code, _, err = project.gates("status")
    assert code == 3
    assert f"history record {name} is malformed: its name does not end in a seq of 8" in err


def test_records_written_before_records_named_their_place_are_read(project, tmp_path):
    """An existing history (no gates.environment label, no place in the data) stays readable."""
    a = project.release("A")
    project.deploy("A")
    for name, config in project.engine.configs.items():
        if name.startswith(PREFIX):
            spec = config["Spec"]
            spec["Labels"].pop("gates.environment")
            data = json.loads(base64.b64decode(spec["Data"]))
            data.pop("seq"), data.pop("environment")
            spec["Data"] = base64.b64encode(json.dumps(data).encode()).decode()
    code, out, err = project.gates("status", state=tmp_path / "fresh-runner")
    assert code == 0 and re.search(rf"staging +http\S+ +{a}", out) and err == ""


def test_seqs_are_said_as_runs():
    assert seq_spans([3, 5, 6, 7, 9]) == "3, 5-7, 9"
    assert seq_spans([1]) == "1"


def test_the_lock_of_a_stack_named_lock_is_no_record(project):
    """Its lock, gates.lock.lock, carries the stack's label and starts like its records."""
    text = project.config.read_text().replace(
        'target = "swarm"\n', 'target = "swarm"\nstack = "lock"\n'
    )
    project.config.write_text(text)
    a = project.release("A")
    assert project.deploy("A")[0] == 0
    code, out, err = project.gates("status")
    assert code == 0 and re.search(rf"staging +http\S+ +{a}", out), err
