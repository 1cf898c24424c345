"""The hand-written OSV fixture directory (``tests/support/osv``), copied where a test wants it.

``osv_copy(destination, modified)`` copies the fixture into ``destination`` and, when
``modified`` is given, rewrites every record's ``modified`` timestamp to it, so that a test can
make the mirror as fresh or as stale as it needs. The fixture's own records are described in
``tests/support/osv/README.md``.
"""

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

FIXTURE = Path(__file__).parent / "osv"
# the newest ``modified`` among the fixture's records, as written
FIXTURE_MODIFIED = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.utc)
MODIFIED_LINE = re.compile(r"^modified: .*$", re.MULTILINE)


def osv_copy(destination: Path, modified: datetime | None = None) -> Path:
    """Copy the fixture to ``destination`` (created); every record's ``modified`` becomes
    ``modified`` when given (an aware datetime). Returns ``destination``."""
    shutil.copytree(FIXTURE / "vulns", destination / "vulns")
    if modified is not None:
        stamp = modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for path in (destination / "vulns").rglob("*"):
            if path.suffix == ".yaml":
                text, count = MODIFIED_LINE.subn(f"modified: '{stamp}'", path.read_text())
                assert count == 1, f"{path} has {count} modified lines"
                path.write_text(text)
            elif path.suffix == ".json":
                record = json.loads(path.read_text())
                record["modified"] = stamp
                path.write_text(json.dumps(record, indent=2))
    return destination
