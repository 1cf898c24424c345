"""pydantic's validation errors as the pipeline's one-line ConfigError: the file, where in it
(a TOML table, or a YAML document and key path), the key, what is wrong with it and what was
found.

The first error's location is walked through the models to name the TOML table it is in
(``[tool.pipeline.environments.staging]``) or the YAML key path (``spec.condition.threshold``),
the key, and that key's declared rule.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from gates.outcome import ConfigError

Model = TypeVar("Model", bound=BaseModel)
BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
NOT_A_STRING = {"string_type", "string_pattern_mismatch", "string_too_short"}
NOT_A_DATE = {"date_type", "date_parsing", "date_from_datetime_parsing"}


def validated(model: type[Model], data: object, path: Path, table: str, context: object) -> Model:
    """``model`` validated from ``data`` (the TOML ``table`` of ``path``), or ConfigError."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        spot = _locate(model, [table], _first(exc)["loc"], data)
        raise ConfigError(one_line(f"{path} {_problem(_first(exc), spot)}")) from None


def validated_document(model: type[Model], data: object, where: str) -> Model:
    """``model`` validated from the YAML document ``where`` names, or ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        spot = _locate(model, [], _first(exc)["loc"], data)
        spot.document = where
        raise ConfigError(one_line(_problem(_first(exc), spot))) from None


def one_line(text: str) -> str:
    """``text`` on one line: a message quoting an exception may hold several."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _first(exc: ValidationError) -> ErrorDetails:
    # An unknown key first: a misspelt key is also reported missing under its right name.
    return min(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")


@dataclass
class _Spot:
    """Where an error is: a table (and the array item in it), a key, its declaration."""

    tables: list[str]
    model: type[BaseModel]
    value: object  # what the file holds there
    item: str = ""  # "bandit waiver 'B602'" for an entry of an array of tables
    title: str = ""  # "bandit waiver": what such an entry is
    key: str = ""
    declared: FieldInfo | None = None
    document: str = ""  # set for YAML: "<path> document 3 (AlertCondition fast-burn)"

    @property
    def where(self) -> str:
        """The table (TOML) or the mapping (YAML) the key is in."""
        if self.document:
            return f"{self.document}: {'.'.join(self.tables)}" if self.tables else self.document
        return f"[{'.'.join(self.tables)}]" + (f": {self.item}" if self.item else "")

    @property
    def subject(self) -> str:
        """What is wrong: the key where it is, or the table itself."""
        if self.document:
            dotted = ".".join([*self.tables, self.key] if self.key else self.tables)
            return f"{self.document}: {dotted}" if dotted else self.document
        return f"{self.where}: {self.key}" if self.key else self.where


def _locate(
    model: type[BaseModel], tables: list[str], loc: tuple[int | str, ...], data: object
) -> _Spot:
    spot, steps = _Spot(tables, model, data), list(loc)
    while steps:
        key = steps.pop(0)
        spot.key, spot.declared = str(key), spot.model.model_fields.get(str(key))
        value = _get(spot.value, key)
        inner = _models(spot.declared.annotation) if spot.declared else []
        shape = get_origin(spot.declared.annotation) if spot.declared else None
        if not inner or (shape and not steps):
            spot.value = value
            break
        if shape is dict:  # a table of tables: its key is a table name
            name = steps.pop(0)
            if steps == ["[key]"]:  # the name itself is refused
                spot.tables.append(spot.key)
                spot.key, spot.value, spot.declared = repr(name), name, None
                break
            spot.tables += [spot.key, str(name)]
            value = _get(value, name)
        elif shape is tuple:  # an array of tables: an index, then the tag naming its model
            index = steps.pop(0)
            value = _get(value, index)
            tagged = [m for m in inner if steps and _has_tag(m, steps[0])]
            if tagged:
                inner, spot.title = tagged, tagged[0].model_config.get("title") or str(key)
                spot.item = f"{spot.title} {_get(value, 'id') or index!r}"
                steps.pop(0)
            elif steps and len(inner) == 1:  # items of one model: into the item
                spot.tables.append(f"{key}[{index}]")
            else:
                spot.key, spot.value = f"{key}[{index}]", value
                break
        else:
            spot.tables.append(spot.key)
        spot.model, spot.value, spot.key, spot.declared = inner[0], value, "", None
    return spot


def _problem(error: ErrorDetails, spot: _Spot) -> str:
    kind, ctx, got = error["type"], error.get("ctx", {}), error["input"]
    # Excluded fields are keys a model refuses by name (gates.slo.objectives.unsupported).
    keys = ", ".join(sorted(k for k, f in spot.model.model_fields.items() if not f.exclude))
    if kind in ("model_type", "model_attributes_type"):
        mapping = "mapping" if spot.document else "table"
        return f"{spot.subject} must be a {mapping}, got {type(got).__name__}"
    if kind == "extra_forbidden":
        known = f"a {spot.title} has" if spot.title else "known keys:"
        return f"{spot.where}: unknown key {spot.key!r} ({known} {keys})"
    if kind == "missing" and spot.title:
        return f"{spot.where}: missing key {spot.key!r} (a {spot.title} has {keys})"
    if kind == "missing" and spot.document:
        return f"{spot.document}: missing {spot.subject.removeprefix(spot.document + ': ')}"
    if kind == "missing":
        return f"{spot.where}: required key {spot.key!r} is missing"
    if kind == "union_tag_invalid":
        tags = _names(ctx["expected_tags"])
        return f"{spot.subject}: {_names(ctx['discriminator'])} must be {tags}, got {ctx['tag']!r}"
    if kind == "union_tag_not_found":
        return f"{spot.subject}: required key {ctx['discriminator']} is missing"
    if kind == "value_error":
        return f"{spot.subject} {ctx['error']}"
    if spot.declared and spot.declared.description:
        found = "" if spot.value is None else f", got {spot.value!r}"  # None: no such key
        return f"{spot.subject} {spot.declared.description}{found}"
    return f"{spot.subject} {_rule(kind, ctx, spot.declared, error['msg'])}, got {got!r}"


def _rule(kind: str, ctx: dict[str, Any], declared: FieldInfo | None, message: str) -> str:
    """What the value must be, from the error's kind and the key's declared constraints."""
    if kind in NOT_A_STRING:
        return "must be a non-empty string"
    if kind in NOT_A_DATE:
        return "must be a date like 2027-01-31"
    if kind == "literal_error":
        names = _names(ctx["expected"])
        return f"must be {names}" if " or " not in names else f"must be one of {names}"
    if declared and declared.annotation in (int, float):
        what = "a whole number" if declared.annotation is int else "a number"
        limits = {b: getattr(m, b) for m in declared.metadata for b in BOUNDS if hasattr(m, b)}
        if {"ge", "le"} == set(limits):
            return f"must be {what} {limits['ge']}-{limits['le']}"
        bounds = " and ".join(f"{BOUNDS[b]} {v}" for b, v in limits.items())
        return f"must be {what} {bounds}".rstrip()
    return message[0].lower() + message[1:]


def _names(quoted: str) -> str:
    """``'a', 'b' or 'c'`` as ``a, b or c``."""
    names = re.findall(r"'([^']*)'", quoted)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)


def _models(annotation: object) -> list[type[BaseModel]]:
    """The models an annotation holds: itself, or its items, values or union members."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models(arg)]


def _has_tag(model: type[BaseModel], tag: object) -> bool:
    return any(tag in get_args(f.annotation) for f in model.model_fields.values())


def _get(value: object, key: object) -> object:
    try:
        return value[key]  # type: ignore[index]  # whatever the file holds; None if it cannot
    except (KeyError, IndexError, TypeError):
        return None
