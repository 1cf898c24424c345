"""Small advisory databases in safety 2.x's format, built by the tests themselves."""

import json
import time

DAY = 86400
# Two days old: current by the gate's default max_advisory_age (30 days).
PUBLISHED = int(time.time()) - 2 * DAY


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

# The Flask JSON DoS (CVE-2018-1000656, fixed in 0.12.3) in safety's format; the OSV fixture
# (support/osv) and the test OSV API carry the same advisory as PYSEC-2018-66.
FLASK_0_12_ADVISORY = {
    "flask": [("36388", "CVE-2018-1000656", "<0.12.3", "Flask before 0.12.3 JSON DoS.")]
}
# A requirements line as `uv export` writes it; pip-audit needs a hash (--require-hashes).
HASH = "--hash=sha256:" + "0" * 64


def pinned(*pins):
    """A hashed requirements file's text for ``name==version`` pins."""
    return "".join(f"{pin} \\\n    {HASH}\n" for pin in pins)
