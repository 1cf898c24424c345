"""The SLO gate's gap rule and query scoping (gates.slo.prometheus), on numbers only.

A real Prometheus runs in tests/e2e/test_slo_prometheus.py; these pin the rule's edges.
"""

import pytest

from gates.slo import selectors
from gates.config import load_config
from gates.outcome import ConfigError, MeasurementError
from gates.slo.prometheus import check_history, first_gap, scoped

AT = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
TARGET = "job=production, instance=127.0.0.1:8102"


def scrapes(seconds: int, every: float = 1.0, down=(), missing=()) -> list[tuple[float, float]]:
    """One ``up`` sample a second (or ``every``) over the last ``seconds`` before AT."""
    samples = []
    for step in range(int(seconds / every), -1, -1):
        when = AT - step * every
        if any(a <= AT - when < b for a, b in missing):
            continue
        samples.append((when, 0.0 if any(a <= AT - when < b for a, b in down) else 1.0))
    return samples


def test_a_clean_history_longer_than_the_window_is_judged():
    history = check_history({TARGET: scrapes(600)}, AT, 40, 21600, "http://prom")
    assert history.interval == 1.0 and history.seconds == 600
    assert history.checked_seconds == 600 and history.targets == (TARGET,)


def test_one_missed_scrape_is_not_a_gap_two_are():
    assert first_gap(scrapes(600, missing=[(100, 101)]), AT, 1.0) is None
    gap = first_gap(scrapes(600, missing=[(100, 102)]), AT, 1.0)
    assert gap == (AT - 102, AT - 99, "was not scraped (no samples)")


def test_failed_scrapes_in_the_lookback_are_exit_3_naming_when_and_how_long():
    series = {TARGET: scrapes(600, down=[(300, 312)])}
    with pytest.raises(MeasurementError) as raised:
        check_history(series, AT, 40, 21600, "http://prom")
    message = str(raised.value)
    assert "\n" not in message
    assert (
        f"{TARGET} failed its scrapes (up == 0) from 07:54:49 UTC to 07:55:01 UTC (12 s), "
        "inside the 10m it judges" in message
    )
    assert "decide after 13:55:01 UTC, when it is older than the longest lookback (6h)" in message


def test_a_target_no_longer_scraped_is_a_gap():
    samples = scrapes(600)[:-10]  # nothing in the last 10 s
    with pytest.raises(MeasurementError, match="is not being scraped"):
        check_history({TARGET: samples}, AT, 40, 21600, "http://prom")


def test_prometheus_younger_than_the_window_says_what_it_lacks():
    with pytest.raises(MeasurementError) as raised:
        check_history({TARGET: scrapes(25)}, AT, 60, 21600, "http://prom")
    assert str(raised.value) == (
        f"Prometheus at http://prom holds 25 s of {TARGET} (since 07:59:35 UTC), less than "
        "the 1m window: decide in 35 s, or use --window 25s"
    )


def test_a_single_scrape_cannot_be_judged():
    with pytest.raises(MeasurementError, match="fewer than two scrapes"):
        check_history({TARGET: [(AT, 1.0)]}, AT, 40, 21600, "http://prom")


def test_interval_is_the_targets_own():
    history = check_history({TARGET: scrapes(3600, every=15)}, AT, 600, 21600, "http://prom")
    assert history.interval == 15
    assert first_gap(scrapes(3600, every=15, missing=[(600, 601)]), AT, 15) is None


def test_scoped_adds_the_environments_labels():
    selector = selectors.parse('http_requests_total{route!="/metrics",status!~"5.."}')
    assert scoped(selector, {}) == selector.text
    assert scoped(selector, {"job": "prod", "route": "x"}) == (
        'http_requests_total{route!="/metrics",status!~"5..",job="prod"}'
    )
    assert scoped(selectors.parse("up"), {"env": 'a"b'}) == 'up{env="a\\"b"}'


def test_an_environments_prometheus_is_configured_and_checked(tmp_path):
    text = load_config().path.read_text()
    table = "[tool.pipeline.environments.production]\n"
    good = text.replace(
        table,
        table + 'prometheus_url = "http://127.0.0.1:9090/"\nprometheus_labels = { job = "p" }\n',
    )
    (tmp_path / "pyproject.toml").write_text(good)
    (tmp_path / "app").symlink_to(load_config().service_dir)
    (tmp_path / "slo").symlink_to(load_config().root / "slo")
    production = load_config(tmp_path / "pyproject.toml").environment("production")
    assert production.prometheus_url == "http://127.0.0.1:9090"
    assert production.prometheus_labels == {"job": "p"}
    bad = text.replace(table, table + 'prometheus_url = "prom:9090"\n')
    (tmp_path / "pyproject.toml").write_text(bad)
    with pytest.raises(ConfigError, match="prometheus_url must be http"):
        load_config(tmp_path / "pyproject.toml")


# A rolling update on swarm (gates.targets.swarm.prometheus: tasks found by DNS): the old
# task leaves DNS, is stopped, and Prometheus, until its next DNS refresh, fails one or two
# scrapes of it before the target is dropped; its series then ends.
OLD = "job=shop, instance=10.0.1.5:8000"
NEW = "job=shop, instance=10.0.1.7:8000"


def departing(left_at: int, failed: int = 1) -> list[tuple[float, float]]:
    """Scrapes every 2 s until ``left_at`` s before AT, the last ``failed`` of them up == 0."""
    samples = [s for s in scrapes(600, every=2.0) if AT - s[0] >= left_at]
    return samples[:-failed] + [(t, 0.0) for t, _ in samples[-failed:]] if failed else samples


def test_a_task_that_left_discovery_is_not_a_gap():
    series = {OLD: departing(100, failed=2), NEW: scrapes(100, every=2.0)}
    history = check_history(series, AT, 40, 21600, "http://prom", listed=lambda: {NEW})
    assert history.targets == (OLD, NEW)


def test_the_same_task_still_discovered_is_a_gap():
    series = {OLD: departing(100, failed=2), NEW: scrapes(100, every=2.0)}
    with pytest.raises(MeasurementError, match=r"10\.0\.1\.5:8000 failed its scrapes"):
        check_history(series, AT, 40, 21600, "http://prom", listed=lambda: {OLD, NEW})
    series = {OLD: departing(100, failed=0), NEW: scrapes(100, every=2.0)}
    with pytest.raises(MeasurementError, match=r"10\.0\.1\.5:8000 is not being scraped"):
        check_history(series, AT, 40, 21600, "http://prom", listed=lambda: {OLD, NEW})


def test_a_task_that_failed_longer_before_it_left_is_still_an_outage():
    series = {OLD: departing(100, failed=10), NEW: scrapes(100, every=2.0)}  # 18 s of up == 0
    with pytest.raises(MeasurementError, match=r"10\.0\.1\.5:8000 failed its scrapes"):
        check_history(series, AT, 40, 21600, "http://prom", listed=lambda: {NEW})
