"""Validating SARIF against the OASIS SARIF 2.1.0 schema (schemas/README.md), offline."""

import json
from pathlib import Path

from support.json_schema import jsonschema

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())


def sarif_errors(document):
    """Every schema violation in ``document``, as "path: message" lines (empty when valid)."""
    validator_class = jsonschema().validators.validator_for(SCHEMA)  # draft-04, as it declares
    validator = validator_class(SCHEMA, format_checker=validator_class.FORMAT_CHECKER)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]
