"""jsonschema for the tests that validate a document against a schema, imported on first use.

Importing jsonschema costs 1.5-2 s of CPU: its format checker for the draft 7+ ``iri`` and
``iri-reference`` formats imports rfc3987-syntax, which builds 38 lark parsers at import. Every
xdist worker paid that while collecting, for the three tests that validate. The schemas they
validate against use neither format (SARIF 2.1.0 is draft-04, whose format checker is the same
either way; the configuration's schema is checked without formats), so rfc3987-syntax is left
out: those two formats are the only checks that go with it.
"""

import sys
from types import ModuleType


def jsonschema() -> ModuleType:
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    import jsonschema as module

    return module
