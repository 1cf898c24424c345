"""Cutovers under keep-alive clients: connections the old deployment's workers hold open.

Every other cutover test sends each request on a new connection. Here clients reuse their
connections (support.keepalive_load), several sessions each, through a real deploy:

- ``requests.Session`` without retries and a plain ``http.client`` loop at a steady rate
  (release and config deploys): the old worker answers each session's next request with
  ``Connection: close`` and the session connects again, to the new deployment;
- the same clients pausing 3 s between requests: longer than gunicorn's own 2 s stop linger
  (which made the ``http.client`` sessions fail), shorter than the 5 s keep-alive timeout
  (so they never fail in normal operation, checked before the deploy);
- past the keep-alive timeout, where the server closes idle connections deploy or not: the
  client docs/deploy.md describes (``requests+retry``) sees no failure.

No request of those clients may fail, and every session must end on the new deployment.
Each phase lasts until the clients did what it needs (every session kept its connection; every
session spoke to the new deployment), bounded by hang guards, never a fixed sleep.
"""

from gates import httpget
from support.keepalive_load import KeepAliveLoad, KeepAliveResult, every_session, last_deployment
from support.timeouts import HANG

RATE = 40  # requests/s per client kind (two kinds at once)
SESSIONS = 4  # kept-alive connections per client kind


def deployment_id(repo, environment):
    _, headers, _ = httpget.fetch("/ready", port=repo.port(environment), timeout=HANG)
    return headers.get("x-deployment-id")


def reused_a_connection(own):
    return any(a.reused and a.status for a in own)


def wait_kept(load):
    """Until every session of ``load`` was answered on a connection it kept (hang guard: two
    of its pauses and HANG)."""
    what = "every session answered on a kept connection"
    load.wait_for(
        lambda answers: every_session(answers, load.sessions, reused_a_connection),
        2 * load.interval + HANG,
        what,
    )


def wait_moved_to(load, new):
    """Until every session of ``load`` was last answered by deployment ``new`` (hang guard:
    one of its pauses and HANG)."""
    load.wait_for(
        lambda answers: all(last_deployment(answers, n) == new for n in range(load.sessions)),
        load.interval + HANG,
        f"every session answered by {new}",
    )


def keepalive_under(repo, environment, clients, *gates_args, sessions=SESSIONS, rate=RATE):
    """Run a gates command while keep-alive clients send GETs, from when every session kept
    its connection until every session spoke to the new deployment; their results."""
    port = repo.port(environment)
    loads = [KeepAliveLoad(port, c, sessions=sessions, rate=rate, timeout=HANG) for c in clients]
    for load in loads:
        load.start()
    try:
        for load in loads:
            wait_kept(load)
        repo.gates(*gates_args)
        new = deployment_id(repo, environment)
        for load in loads:
            wait_moved_to(load, new)
    finally:
        results = [load.stop() for load in loads]
    return results


def assert_clean_handover(result: KeepAliveResult, old: str, new: str) -> None:
    assert result.failures == [], result.summary() + f"; first: {result.failures[:3]}"
    # They were keep-alive clients: most requests went on a connection used before.
    assert result.reused >= len(result.answers) / 2, result.summary()
    deployments = {a.deployment for a in result.answers}
    assert deployments == {old, new}, result.summary()
    for session in range(result.sessions):
        assert result.last_deployment(session) == new, result.summary()


def test_keepalive_clients_without_retries_see_no_failures_through_a_deploy(scenario):
    """A release deploy (A to B), then a config deploy (B with a new config): one scenario,
    the second change starting from the first's result."""
    repo = scenario("A", "B")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    for change in ("release", "config"):
        old = deployment_id(repo, "staging")
        if change == "config":
            repo.set_service_env("staging", GREETING="config-2")
        args = ("deploy", "--environment", "staging", "--release", repo.releases["B"])
        results = keepalive_under(repo, "staging", ("requests", "http.client"), *args)
        new = deployment_id(repo, "staging")
        assert new != old, change
        for result in results:
            print(f"{change}: {result.summary()}")
        for result in results:
            assert_clean_handover(result, old, new)
            # Each session was told to close its connection to the old deployment.
            assert result.closed_by_server >= result.sessions, result.summary()


IDLE_GAP = 3.0  # seconds a session waits between requests: under the service's keepalive (5)
IDLE_SESSIONS = 15


def test_keepalive_clients_that_pause_see_no_failures_through_a_deploy(scenario):
    """A client that pauses less than the keep-alive timeout never finds its connection
    closed in normal operation (checked before the deploy); a cutover must not close it
    earlier either."""
    repo = scenario("A", "B")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    old = deployment_id(repo, "staging")
    port = repo.port("staging")
    clients = ("requests", "http.client")
    loads = [
        KeepAliveLoad(port, c, IDLE_SESSIONS, rate=IDLE_SESSIONS / IDLE_GAP, timeout=HANG)
        for c in clients
    ]
    for load in loads:
        load.start()
    try:
        for load in loads:
            wait_kept(load)  # every session paused and reused its connection
        started = loads[0].elapsed()
        repo.gates("deploy", "--environment", "staging", "--release", repo.releases["B"])
        new = deployment_id(repo, "staging")
        for load in loads:
            wait_moved_to(load, new)  # every session spoke to the new deployment
    finally:
        results = [load.stop() for load in loads]
    for result in results:
        print(result.summary())
    for result in results:
        before = [a for a in result.answers if a.sent < started]
        assert sum(a.reused for a in before) >= IDLE_SESSIONS, result.summary()
        assert [a for a in before if a.error] == [], "normal operation"
        assert_clean_handover(result, old, new)


KEEPALIVE = 5.0  # seconds, techcorp_api.gunicorn_conf.keepalive


def test_keepalive_clients_that_retry_see_no_failures_past_the_keepalive(scenario):
    """Past the keep-alive timeout the server closes an idle connection, deploy or not; a
    client that reuses it blindly (http.client) fails, in normal operation too. The client
    docs/deploy.md describes (urllib3 drops a connection it finds closed, and retries an
    idempotent request on a connection error) sees none, through a deploy as well."""
    repo = scenario("A", "B")
    repo.gates("deploy", "--environment", "staging", "--release", repo.releases["A"])
    old = deployment_id(repo, "staging")
    port = repo.port("staging")
    loads = {
        # at the keep-alive edge and past it: sessions race the server's close
        (client, gap): KeepAliveLoad(port, client, IDLE_SESSIONS, IDLE_SESSIONS / gap, timeout=HANG)
        for client in ("requests+retry", "http.client")
        for gap in (KEEPALIVE, KEEPALIVE + 0.5)
    }
    for load in loads.values():
        load.start()
    blind = loads["http.client", KEEPALIVE + 0.5]
    try:
        for load in loads.values():  # every session sent again after a pause
            load.wait_for(
                lambda answers, load=load: every_session(
                    answers, load.sessions, lambda own: len(own) >= 2
                ),
                2 * load.interval + HANG,
                "every session sent after a pause",
            )
        repo.gates("deploy", "--environment", "staging", "--release", repo.releases["B"])
        new = deployment_id(repo, "staging")
        for gap in (KEEPALIVE, KEEPALIVE + 0.5):
            wait_moved_to(loads["requests+retry", gap], new)
        # The neighbour's sessions each reuse a connection idle past the keepalive.
        blind.wait_for(
            lambda answers: every_session(
                answers, blind.sessions, lambda own: any(a.error for a in own)
            ),
            2 * blind.interval + HANG,
            "every blind session failed on a connection idle past the keepalive",
        )
    finally:
        results = {key: load.stop() for key, load in loads.items()}
    for (client, gap), result in results.items():
        print(f"pause {gap:g} s: {result.summary()}")
    for gap in (KEEPALIVE, KEEPALIVE + 0.5):
        assert_clean_handover(results["requests+retry", gap], old, new)
    # The neighbour: connections idle past the keepalive were closed under a blind client.
    blind = results["http.client", KEEPALIVE + 0.5]
    assert set(blind.failure_kinds()) <= {"RemoteDisconnected", "ConnectionResetError"}
    assert len(blind.failures) >= IDLE_SESSIONS, blind.summary()
