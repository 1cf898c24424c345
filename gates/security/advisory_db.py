"""The offline advisory database for safety 2.x: where it is, how old it is, staged for use.

Online: ``download`` fetches the feed at ``[tool.pipeline.security] safety_db_url`` (safety's
free feed by default). Offline: named by ``$PIPELINE_SAFETY_DB`` or ``offline_db``, a directory
holding ``insecure.json`` and ``insecure_full.json``, or ``package:NAME`` for the directory
of an installed Python package (``package:safety_db`` is the 2021 database on PyPI).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gates import httpget
from gates.outcome import ConfigError, MeasurementError

if TYPE_CHECKING:
    from gates.config import PipelineConfig

OFFLINE_DB_ENV = "PIPELINE_SAFETY_DB"
FILES = ("insecure.json", "insecure_full.json")
DOWNLOAD_TIMEOUT = 30.0
PACKAGE_PREFIX = "package:"


@dataclass(frozen=True)
class AdvisoryDb:
    source: str  # what was named
    path: Path  # the staged copy safety reads
    published: datetime
    online: bool = False  # fetched from the feed now, not a copy named for offline use

    def describe(self) -> str:
        return f"{'feed' if self.online else 'offline database'} {self.source}"


def named_db(
    config: PipelineConfig, environ: Mapping[str, str] | None = None
) -> tuple[str, Path] | None:
    """(name, directory) of the offline database, or None when none is named."""
    environ = os.environ if environ is None else environ
    name = environ.get(OFFLINE_DB_ENV) or config.security.offline_db
    if not name:
        return None
    if name.startswith(PACKAGE_PREFIX):
        package = name[len(PACKAGE_PREFIX) :]
        # find_spec locates the package without running it (safety_db's own import fails).
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"offline advisory database {name}: package {package!r} is not installed"
            )
        directory = Path(list(spec.submodule_search_locations)[0])
    else:
        directory = config.root / name
    missing = [f for f in FILES if not (directory / f).is_file()]
    if missing:
        raise ConfigError(
            f"offline advisory database {name} ({directory}) has no {missing[0]}; "
            f"set ${OFFLINE_DB_ENV} or offline_db to a directory with {' and '.join(FILES)}"
        )
    return name, directory


def download(url: str, raw: Path, destination: Path) -> AdvisoryDb:
    """Fetch the feed's two files from ``url`` (a directory URL) into ``raw``, then stage them.

    MeasurementError, naming the URL and the cause, when either file cannot be fetched.
    """
    parts = urlsplit(url if url.endswith("/") else url + "/")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"[tool.pipeline.security] safety_db_url {url!r} is not an http(s) URL")
    raw.mkdir(parents=True, exist_ok=True)
    for filename in FILES:
        try:
            status, _, body = httpget.fetch(
                parts.path + filename, f"{parts.scheme}://{parts.netloc}", timeout=DOWNLOAD_TIMEOUT
            )
        except httpget.FAILURES as exc:
            raise MeasurementError(f"{url}{filename}: {exc}") from None
        if status != 200:
            raise MeasurementError(f"{url}{filename} answered HTTP {status}")
        (raw / filename).write_bytes(body)
    return stage(url, raw, destination, online=True)


def stage(name: str, directory: Path, destination: Path, online: bool = False) -> AdvisoryDb:
    """Copy the database to ``destination`` for safety, and read its publication time.

    safety 2.3's JSON output crashes on databases without ``$meta.base_domain`` (the 2021
    safety-db is one); the staged copy gets an empty one. Advisories are copied unchanged.
    """
    destination.mkdir(parents=True, exist_ok=True)
    # Every file is checked and copied; the last one's timestamp dates the database.
    published = [_stage_file(name, directory, destination, filename) for filename in FILES]
    return AdvisoryDb(name, destination, published[-1], online)


def _stage_file(name: str, directory: Path, destination: Path, filename: str) -> datetime:
    """Copy one database file with ``$meta.base_domain`` set; its publication time."""
    try:
        data = json.loads((directory / filename).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MeasurementError(
            f"offline advisory database {name}: {filename} is unreadable or not JSON ({exc})"
        ) from None
    meta = data.get("$meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("timestamp"), int):
        raise MeasurementError(
            f"offline advisory database {name}: {filename} has no $meta.timestamp; "
            "not a safety 2.x database"
        )
    meta.setdefault("base_domain", "")
    (destination / filename).write_text(json.dumps(data), encoding="utf-8")
    return datetime.fromtimestamp(meta["timestamp"], timezone.utc)
