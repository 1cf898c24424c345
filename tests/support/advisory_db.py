"""Small advisory databases in safety 2.x's format, built by the tests themselves."""

import json
from datetime import datetime, timezone

PUBLISHED = int(datetime(2026, 1, 15, tzinfo=timezone.utc).timestamp())


def make_advisory_db(directory, advisories=None, timestamp=PUBLISHED, base_domain=True):
    """``advisories``: {package: [(id, cve, spec, text)]} -> insecure(_full).json in directory."""
    advisories = advisories or {}
    meta = {"advisory": "test database", "timestamp": timestamp}
    if base_domain:
        meta["base_domain"] = ""
    insecure = {"$meta": dict(meta)}
    full = {"$meta": dict(meta)}
    for package, entries in advisories.items():
        insecure[package] = [spec for _, _, spec, _ in entries]
        full[package] = [
            {"advisory": text, "cve": cve, "id": f"pyup.io-{vid}", "specs": [spec], "v": spec}
            for vid, cve, spec, text in entries
        ]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "insecure.json").write_text(json.dumps(insecure))
    (directory / "insecure_full.json").write_text(json.dumps(full))
    return directory


FLASK_ADVISORY = {
    "flask": [("90001", "CVE-2099-0001", "<1.1", "flask before 1.1 leaks test secrets.")]
}
