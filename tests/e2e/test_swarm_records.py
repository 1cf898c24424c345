"""A swarm environment's history is checked, not believed, on a real engine (DOCKER_HOST):
records written beside gates' own with ``docker config create`` or removed with ``docker
config rm``, as a mistake or an attacker would, are refused, reported as a gap, or stop the
command with exit 3 in one line naming the record (issue 25, finding 3).

Scenarios as in tests/e2e/test_swarm.py: clones with empty state directories, environments
under a unique prefix, every engine object under it removed afterwards; without an engine
the tests skip saying why (with ``CI`` set they fail instead).
"""

import json

import pytest

from gates.targets import probe
from support.history_records import forge, next_seq, of_kind, record_name, stored
from support.swarm import docker, engine_ledger
from support.timeouts import HANG


def staging_stack(swarm):
    return f"{swarm.prefix}-staging"


def test_a_forged_release_record_is_refused_and_rollback_deploys_the_first_digest(swarm):
    """A's release record copied, in its place (label, seq, environment), naming B's image:
    a fresh clone's rollback to A deploys A's image, and says it refused the copy."""
    repo = swarm.checkout("A", "B")
    a, b = repo.releases["A"], repo.releases["B"]
    repo.gates("deploy", "--environment", "staging", "--release", a)
    repo.gates("deploy", "--environment", "staging", "--release", b)
    stack = staging_stack(swarm)
    found = stored(docker, stack)
    [first] = of_kind(found, "release", release_id=a)
    [of_b] = of_kind(found, "release", release_id=b)
    manifest, other_image = found[first][1], found[of_b][1]["image"]
    seq = next_seq(docker, stack)
    forged = {**manifest, "seq": seq, "image": other_image}
    labels = {"gates.seq": seq, "gates.environment": "staging", "gates.kind": "release"}
    name = forge(docker, stack, labels, json.dumps(forged))

    fresh = swarm.checkout()  # no releases: it knows A only from the history
    done = fresh.gates("rollback", "--environment", "staging", "--reason", "drill")
    assert f"staging: {b} -> {a}" in done.stdout, done.stdout
    image = docker("service", "inspect", "--format",
                   "{{.Spec.TaskTemplate.ContainerSpec.Image}}", stack).strip()  # fmt: skip
    assert image == manifest["image"]["reference"], (image, manifest["image"])
    assert (
        f"gates: refused history record {name}: it points release {a} at the image "
        f"{other_image['digest']}, but {record_name(stack, first)} recorded it first with "
        f"{manifest['image']['digest']}"
    ) in done.stderr, done.stderr
    assert probe.get("/ready", port=swarm.url("staging"), timeout=HANG).release == a


def test_a_record_in_stagings_stack_naming_production_is_not_counted_there(swarm):
    """A copy of staging's succeeded deploy, stored in staging's stack but naming production:
    production was never deployed, and its DORA says so."""
    repo = swarm.checkout("A")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    stack = staging_stack(swarm)
    found = stored(docker, stack)
    [succeeded] = of_kind(found, "deploys", state="succeeded")
    row = {**found[succeeded][1]["row"], "environment": "production"}
    seq = next_seq(docker, stack)
    data = {"uid": "f" * 32, "environment": "production", "seq": seq, "row": row}
    name = forge(docker, stack, {"gates.seq": seq, "gates.kind": "deploys"}, json.dumps(data))

    dora = swarm.checkout().gates("dora", "--environment", "production", check=False)
    assert "(0 in 30 days)" in dora.stdout, dora.stdout
    assert (
        f"gates: refused history record {name}: its data names the environment 'production', "
        f"but it is stored in staging's history (stack {stack})"
    ) in dora.stderr, dora.stderr


def test_a_removed_record_is_reported_as_a_gap_and_never_rewritten_silently(swarm):
    """A failed deploy's outcome removed: the next command reports the gap, and what it
    records for that deploy says it was inferred, not that it was interrupted."""
    repo = swarm.checkout("A", "CRASH", "B")
    a, crash, b = (repo.releases[name] for name in ("A", "CRASH", "B"))
    repo.gates("deploy", "--environment", "staging", "--release", a)
    failed = repo.gates("deploy", "--environment", "staging", "--release", crash, check=False)
    assert failed.returncode == 1, failed.stderr
    repo.gates("deploy", "--environment", "staging", "--release", b)
    stack = staging_stack(swarm)
    [outcome] = of_kind(stored(docker, stack), "deploys", release_id=crash, state="failed")
    docker("config", "rm", record_name(stack, outcome))

    fresh = swarm.checkout()
    status = fresh.gates("status", "--environment", "staging")
    row = engine_ledger(fresh).deploys("staging")[1]
    assert (row["release_id"], row["state"]) == (crash, "failed")
    assert (
        f"its outcome may have been in the records missing from the history (seq {outcome})"
    ) in row["error"], row["error"]
    assert (
        f"gates: staging's history (stack {stack}) has a gap: seq {outcome} missing"
    ) in status.stderr, status.stderr


DEPLOYS = {"gates.seq": "{seq}", "gates.kind": "deploys"}
MALFORMED = {
    "no seq label": ({"gates.kind": "deploys"}, "{}", "it has no gates.seq label"),
    "a seq label that is no number": (
        {**DEPLOYS, "gates.seq": "x1"},
        "{}",
        "its gates.seq label is 'x1', not a number",
    ),
    "data that is not JSON": (DEPLOYS, "not json", "its data is not JSON"),
    "a row record without its row": (
        DEPLOYS,
        '{"uid": "0123"}',
        "a record of deploys without a row",
    ),
    "a release without its id": (
        {**DEPLOYS, "gates.kind": "release"},
        '{"image": {}}',
        "a release record without release_id",
    ),
}


@pytest.mark.parametrize("labels, body, problem", MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_record_is_exit_3_in_one_line_naming_it(swarm, labels, body, problem):
    repo = swarm.checkout("A")
    stack = staging_stack(swarm)
    seq = next_seq(docker, stack)
    name = forge(docker, stack, {k: v.format(seq=seq) for k, v in labels.items()}, body)
    deploy = ("deploy", "--environment", "staging", "--release", repo.releases["A"])
    for command in (("status",), deploy):
        done = repo.gates(*command, check=False)
        line = done.stderr.strip()
        assert done.returncode == 3, (command, done.returncode, line)
        assert "\n" not in line and "Traceback" not in line, line
        assert f"history record {name} is malformed: {problem}" in line, line
