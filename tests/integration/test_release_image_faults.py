"""The release image's faults that need no engine: one line, the right exit code."""

import pytest

from gates.config import load_config
from gates.outcome import COULD_NOT_MEASURE, FAILED, MeasurementError
from gates.release.image import ImageRefused, build_release_image, verify_image
from gates.report import Report
from support.pipeline_project import make_project
from support.ports import free_port

DIGEST = "sha256:" + "ab" * 32


def config_with(tmp_path, engine_table, build_table=""):
    path = make_project(tmp_path)
    path.write_text(path.read_text() + engine_table + build_table)
    return load_config(path, environ={})


def test_an_engine_asked_for_by_name_that_does_not_answer_is_exit_3(tmp_path):
    config = config_with(
        tmp_path,
        f'[tool.pipeline.engine]\ndocker_host = "unix://{tmp_path}/none.sock"\n',
        '[tool.pipeline.build]\ncontainer_engine = "docker"\n',
    )
    with pytest.raises(MeasurementError) as raised:
        build_release_image(config, tmp_path, "0123", 60, Report("build"))
    assert raised.value.exit_code == COULD_NOT_MEASURE
    assert str(raised.value).startswith("the container engine (docker) does not answer: docker:")
    assert "\n" not in str(raised.value)


def test_with_none_the_build_goes_on_without_an_image(tmp_path, capsys):
    config = config_with(
        tmp_path,
        f'[tool.pipeline.engine]\ndocker_host = "unix://{tmp_path}/none.sock"\n',
        '[tool.pipeline.build]\ncontainer_engine = "none"\n',
    )
    facts = build_release_image(config, tmp_path, "0123", 60, Report("build"))
    assert facts["built"] is False and "container builds are disabled" in str(facts["reason"])
    assert "no container engine, image not built" in capsys.readouterr().out


def test_verify_image_with_the_registry_unreachable_is_exit_3(tmp_path):
    registry = f"127.0.0.1:{free_port()}"
    config = config_with(tmp_path, f'[tool.pipeline.engine]\nregistry = "{registry}"\n')
    manifest = {"image": {"reference": f"{registry}/api@{DIGEST}", "digest": DIGEST}}
    with pytest.raises(MeasurementError) as raised:
        verify_image(config, manifest)
    assert raised.value.exit_code == COULD_NOT_MEASURE
    assert f"the image registry {registry} does not answer" in str(raised.value)


def test_a_reference_by_tag_is_refused_before_the_registry_is_asked(tmp_path):
    config = config_with(tmp_path, '[tool.pipeline.engine]\nregistry = "127.0.0.1:1"\n')
    manifest = {"release_id": "r", "image": {"reference": "127.0.0.1:1/api:r", "digest": DIGEST}}
    with pytest.raises(ImageRefused) as raised:
        verify_image(config, manifest)
    assert raised.value.exit_code == FAILED
    assert str(raised.value).startswith("image digest does not match the manifest")
