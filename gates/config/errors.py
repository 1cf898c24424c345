"""pydantic's validation errors as the pipeline's one-line ConfigError: the file, where in it
(a TOML table, or a YAML document and key path), the key, what is wrong and what was found.

Worded from the first error's own ``loc``, ``type``, ``ctx`` and ``input``, not from the
models: what those cannot say, a model declares (gates.config.rules).
"""

import re
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gates.outcome import ConfigError

Model = TypeVar("Model", bound=BaseModel)
NOT_A_TABLE = {"model_type", "model_attributes_type"}
OF_A_TABLE = {*NOT_A_TABLE, "union_tag_invalid", "union_tag_not_found", "unknown_key"}
NOT_A_STRING = {"string_type", "string_pattern_mismatch", "string_too_short"}


def validated(model: type[Model], data: object, path: Path, table: str, context: object) -> Model:
    """``model`` validated from ``data`` (the TOML ``table`` of ``path``), or ConfigError."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(one_line(f"{path} {_message(exc, table, '')}")) from None


def validated_document(model: type[Model], data: object, where: str) -> Model:
    """``model`` validated from the YAML document ``where`` names, or ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(one_line(_message(exc, "", where))) from None


def one_line(text: str) -> str:
    """``text`` on one line: a message quoting an exception may hold several."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _message(exc: ValidationError, table: str, document: str) -> str:
    # An unknown key first: a misspelt key is also reported missing under its right name.
    error = min(exc.errors(include_url=False), key=lambda e: e["type"] != "unknown_key")
    kind, ctx, got = error["type"], error.get("ctx", {}), error["input"]
    tables, items, key = _place(error)
    if document:  # YAML: document 3 (AlertCondition fast-burn): spec.condition.threshold
        where = ": ".join(filter(None, [document, ".".join(tables + items)]))
        subject = ": ".join(filter(None, [document, ".".join(tables + items + [key] * bool(key))]))
    else:  # TOML: [tool.pipeline.security]: waivers[0]: expires
        where = f"[{'.'.join([table, *tables])}]" + "".join(f": {item}" for item in items)
        subject = f"{where}: {key}" if key else where
    if kind in NOT_A_TABLE:
        return f"{subject} must be a {'mapping' if document else 'table'}, got {type(got).__name__}"
    if kind == "union_tag_invalid":
        name, tags = _names(ctx["discriminator"]), _names(ctx["expected_tags"])
        return f"{where}: {name} must be {tags}, got {ctx['tag']!r}"
    if kind == "union_tag_not_found":
        return f"{where}: required key {ctx['discriminator']} is missing"
    if kind == "unknown_key":
        return f"{where}: {error['msg']}"
    if kind == "missing":
        if document:
            return f"{document}: missing {subject.removeprefix(document + ': ')}"
        return f"{where}: " + (
            f"missing key {key!r}" if items else f"required key {key!r} is missing"
        )
    if kind == "value_error":
        return f"{subject} {ctx['error']}"
    if kind == "literal_error":
        names = _names(ctx["expected"])
        return f"{subject} must be {'one of ' * (' or ' in names)}{names}, got {got!r}"
    said = error["msg"] if kind == "rule" else error["msg"][0].lower() + error["msg"][1:]
    return (
        f"{subject} {'must be a non-empty string' if kind in NOT_A_STRING else said}, got {got!r}"
    )


def _place(error: ErrorDetails) -> tuple[list[str], list[str], str]:
    """The tables, the entries of an array of tables (``waivers[0]``) and the key ``loc`` says."""
    steps = list(error["loc"])
    if steps[-1:] == ["[key]"]:  # a table of tables refused this name for a table
        steps[-2:] = [repr(steps[-2])]
    key = "" if error["type"] in OF_A_TABLE else str(steps.pop())
    tables: list[str] = []
    items: list[str] = []
    for step, before in zip(steps, [None, *steps]):
        if isinstance(step, int):
            items.append(f"{(items or tables).pop()}[{step}]")
        elif not isinstance(before, int):  # right after an index: a tagged union's tag
            (items or tables).append(step)
    return tables, items, key


def _names(quoted: str) -> str:
    """``'a', 'b' or 'c'`` as ``a, b or c``."""
    names = re.findall(r"'([^']*)'", quoted)
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else "".join(names)
