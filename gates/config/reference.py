"""The configuration reference, docs/configuration.md, from the models' JSON Schema: one table
per ``[tool.pipeline.*]`` table, each key with its type, default and description. A unit test
keeps the file equal to the models; after changing them, regenerate it with :data:`COMMAND`.
"""

import json
import textwrap
from typing import Any

from gates.config.models import TABLE, CoverageReport, json_schema
from gates.config.placement import ENGINE_KEYS, ENVIRONMENT_KEYS, TARGETS_ENV

COMMAND = (
    "python -c \"from gates.config import reference; print(reference.markdown(), end='')\" "
    "> docs/configuration.md"
)
INTRO = f"""\
# Configuration reference

The pipeline reads the `[{TABLE}]` table of `pyproject.toml` (the file `--config` or
`$PIPELINE_CONFIG` names, else the nearest one with such a table at or above the working
directory); relative paths are relative to that file. `gates config` validates it and prints
it resolved; `gates config --schema` prints its JSON Schema, for editors. A key not listed here
is refused, and every refusal is one line naming the file, the table and the key (exit 2).

Generated from `gates/config/models.py` by `{COMMAND}`; a unit test keeps it equal.
"""
_OVERLAY_SAYS = (
    f"TOML laid over the `[{TABLE}]` table before it is validated, tables merged key by key: "
    f"the place of the engine's images (`[engine]` {', '.join(f'`{k}`' for k in ENGINE_KEYS)}) "
    "and of each environment the file declares (`[environments.NAME]` "
    f"{', '.join(f'`{k}`' for k in ENVIRONMENT_KEYS)}), never a gate's thresholds. Any other "
    "key, an environment the file does not declare, or a value the tables below refuse is one "
    f"line naming `${TARGETS_ENV}` and the key (exit 2); empty: nothing laid over. The "
    "workflow sets it from the repository variable of the same name, so this repository keeps "
    '`target = "local"` for laptops and tests. Under `GITHUB_ACTIONS=true` a command aimed at '
    "a local environment, or a build that would push to a registry on the loopback, is refused "
    "(exit 2): a runner is thrown away after its job."
)
OVERLAY = f"""\
## `${TARGETS_ENV}`: where the environments live

{textwrap.fill(_OVERLAY_SAYS, 95, break_on_hyphens=False)}

```toml
[engine]
registry = "10.231.0.2:5000"
[environments.staging]
target = "swarm"
url = "http://10.231.0.2:8101"
```
"""


def markdown() -> str:
    """docs/configuration.md: the introduction, then one section per table."""
    schema = json_schema()
    sections = [INTRO, OVERLAY, *_tables(schema, schema, TABLE)]
    coverage = CoverageReport.model_json_schema()
    sections.append(_section("`[tool.coverage.report]`", coverage, ""))
    return "\n".join(sections)


def _tables(schema: dict[str, Any], table: dict[str, Any], name: str, held: str = "") -> list[str]:
    """The section of ``table`` and those of the tables it holds, in declaration order."""
    sections = [_section(f"`[{name}]`", table, held)]
    for key, value in table["properties"].items():
        if "$ref" in value:  # a table
            sections += _tables(schema, _ref(schema, value), f"{name}.{key}")
        elif "$ref" in value.get("additionalProperties", {}):  # a table of tables
            named = _ref(schema, value["additionalProperties"])
            sections += _tables(schema, named, f"{name}.{key}.NAME", value["description"])
        elif "oneOf" in value.get("items", {}):  # an array of tables, one model per kind
            for kind in value["items"]["oneOf"]:
                entry = _ref(schema, kind)
                title = f"`[[{name}.{key}]]`: {entry['title']}"
                sections.append(_section(title, entry, value["description"]))
    return sections


def _section(title: str, table: dict[str, Any], held: str) -> str:
    """A table's heading, what it is (the key holding it, the model's docstring), its keys."""
    said = " ".join([held, table.get("description", "")]).replace("``", "`").split()
    lines = [f"## {title}", "", " ".join(said), ""] if said else [f"## {title}", ""]
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    for key, value in table["properties"].items():
        if "$ref" in value or "$ref" in value.get("additionalProperties", {}):
            continue  # a table: a section of its own
        if "oneOf" in value.get("items", {}):
            continue  # an array of tables: sections of its own
        default = (
            f"`{_toml(value.get('default'))}`" if value.get("default") is not None else "unset"
        )
        default = "required" if key in table.get("required", ()) else default
        cells = [f"`{key}`", _type(value), default, value.get("description", "")]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _type(value: dict[str, Any]) -> str:
    if "anyOf" in value:
        kinds = [_type(v) for v in value["anyOf"] if v.get("type") != "null"]
        return " or ".join(kinds) + (" or unset" if len(kinds) < len(value["anyOf"]) else "")
    if "const" in value:
        return f"`{_toml(value['const'])}`"
    if "enum" in value:
        return " or ".join(f"`{_toml(v)}`" for v in value["enum"])
    kind = value.get("type")
    if kind in ("integer", "number"):
        return ("whole number" if kind == "integer" else "number") + _bounds(value)
    if kind == "array":
        return f"list of {_type(value['items'])}"
    if kind == "object":
        values = value.get("additionalProperties") or next(
            iter(value["patternProperties"].values())
        )
        return f"table of {_type(values)}"
    return str(value.get("format", kind))  # string, path, date


def _bounds(value: dict[str, Any]) -> str:
    low, high = value.get("minimum"), value.get("maximum")
    if low is not None and high is not None:
        return f" {low}–{high}"
    limits = [(">", "exclusiveMinimum"), ("≥", "minimum"), ("<", "exclusiveMaximum")]
    limits.append(("≤", "maximum"))
    said = [f"{sign} {value[key]}" for sign, key in limits if key in value]
    return f" {', '.join(said)}" if said else ""


def _toml(value: object) -> str:
    """``value`` as TOML writes it."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = [f"{json.dumps(key)} = {_toml(item)}" for key, item in value.items()]
        return "{ " + ", ".join(pairs) + " }" if pairs else "{}"
    return json.dumps(value)


def _ref(schema: dict[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    definition: dict[str, Any] = schema["$defs"][value["$ref"].rsplit("/", 1)[-1]]
    return definition


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")
