"""docs/configuration.md is generated from the configuration's models and kept equal to them;
every key of every table says what it does."""

from pathlib import Path

from gates.config import json_schema, reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_the_configuration_reference_is_the_models():
    assert DOC.read_text() == reference.markdown(), f"regenerate it: {reference.COMMAND}"


def test_every_key_says_what_it_does():
    schema = json_schema()
    undescribed = [
        f"{name}.{key}"
        for name, table in [("PipelineConfig", schema), *schema["$defs"].items()]
        for key, value in table.get("properties", {}).items()
        if "$ref" not in value and not value.get("description")
    ]
    assert not undescribed


def test_the_reference_shows_each_table_with_its_keys_types_and_defaults():
    text = reference.markdown()
    assert "## `[tool.pipeline.environments.NAME]`" in text
    assert "## `[[tool.pipeline.security.waivers]]`: bandit waiver" in text
    assert "| `port` | whole number 1024–65535 | required |" in text
    assert '| `window` | string | `"30s"` |' in text
    assert '| `paths` | table of whole number ≥ 1 | `{ "/api/data" = 4, "/health" = 1 }` |' in text
