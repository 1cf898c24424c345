"""The SLO objectives file: every malformed file is refused in one line naming the file, the
document and the key (issue 13, finding 7); the repository's own file loads."""

import pytest

from gates import slo_objectives
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
    assert objectives.burn_rate_threshold == 14.4


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
