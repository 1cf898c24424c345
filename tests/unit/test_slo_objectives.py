"""The SLO objectives file: every malformed file is refused in one line naming the file, the
document and the key; the repository's own file loads."""

import pytest

from gates.slo import objectives as slo_objectives
from gates.outcome import ConfigError
from support.bad_inputs import OBJECTIVES, OBJECTIVES_CASES


def test_the_repository_objectives_load():
    objectives = slo_objectives.load(OBJECTIVES)
    assert [(o.name, o.display, o.target) for o in objectives.slos] == [
        ("availability", "Availability", 0.999),
        ("latency", "Latency", 0.99),
    ]
    assert objectives.slos[0].window_seconds == 28 * 86400
    assert objectives.slos[1].good.text == (
        'http_request_duration_seconds_bucket{route!="/metrics",le="0.2"}'
    )
    assert [(a.name, a.severity, a.threshold, a.lookback_seconds) for a in objectives.alerts] == [
        ("fast-burn", "page", 14.4, 3600),
        ("slow-burn", "ticket", 6, 6 * 3600),
    ]


@pytest.mark.parametrize("case", OBJECTIVES_CASES, ids=lambda case: case.id)
def test_a_bad_objectives_file_is_one_line_naming_file_document_and_key(tmp_path, case):
    path = tmp_path / "objectives.yaml"
    path.write_bytes(case.applied(OBJECTIVES.read_text()))
    with pytest.raises(ConfigError) as caught:
        slo_objectives.load(path)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"{path}")
    assert case.expected in line


def test_an_empty_objectives_file_is_refused(tmp_path):
    path = tmp_path / "objectives.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match=f"{path}: no SLO documents"):
        slo_objectives.load(path)


def test_a_missing_objectives_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        slo_objectives.load(tmp_path / "absent.yaml")


def test_harmless_openslo_keys_are_accepted_and_not_read(tmp_path):
    """Descriptive keys cannot change a verdict: accepted (the refusals are in bad_inputs)."""
    text = OBJECTIVES.read_text()
    text = text.replace(
        "  displayName: Availability\n",
        "  displayName: Availability\n  labels: {team: [sre]}\n  annotations: {owner: sre}\n",
    )
    text = text.replace(
        "      name: availability\n",
        "      name: availability\n      displayName: Non-5xx ratio\n      labels: {tier: api}\n",
    )
    text = text.replace("  severity: page\n", "  severity: page\n  description: wake someone\n")
    text += (
        "---\napiVersion: openslo/v1\nkind: Service\nmetadata: {name: techcorp-api}\n"
        "spec: {description: the API}\n"
        "---\napiVersion: openslo/v1\nkind: AlertNotificationTarget\nmetadata: {name: pager}\n"
        "spec: {target: pagerduty}\n"
    )
    path = tmp_path / "objectives.yaml"
    path.write_text(text)
    assert slo_objectives.load(path) == slo_objectives.load(OBJECTIVES)


def test_an_unknown_key_lists_the_known_ones_not_the_refused_ones(tmp_path):
    path = tmp_path / "objectives.yaml"
    path.write_text(
        OBJECTIVES.read_text().replace("ratioMetric:", "ratioMetric:\n        gud: 1", 1)
    )
    with pytest.raises(ConfigError) as caught:
        slo_objectives.load(path)
    assert str(caught.value).endswith(
        "spec.indicator.spec.ratioMetric: unknown key 'gud' (known keys: counter, good, total)"
    )
