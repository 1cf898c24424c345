"""What one advisory source (safety, pip-audit, an OSV directory) said about the pins, and how
old its data was: the freshness rule is part of the security verdict."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from gates.outcome import MeasurementError
from gates.security.findings import Finding

# What CI systems set (GitHub Actions, GitLab, and most others): "true", "1", or a name.
CI_ENV = "CI"


@dataclass
class SourceResult:
    name: str
    findings: list[Finding] = field(default_factory=list)
    packages: int = 0  # how many pinned packages it audited
    data: str = ""  # which advisory data, in words
    as_of: datetime | None = None  # the data's date; for a live service, when it answered
    live: bool = False  # a service queried now, not a copy
    error: str = ""  # why it could not measure ("" when it did)

    def age_days(self, now: datetime) -> int | None:
        return None if self.as_of is None else (now - self.as_of).days

    def stale(self, max_age_days: int, now: datetime) -> bool:
        age = self.age_days(now)
        return not self.error and (age is None or age > max_age_days)

    def data_line(self, now: datetime) -> str:
        if self.error:
            return f"{self.name}: no data (could not measure)"
        if self.live:
            return f"{self.name}: {self.data}, queried {_stamp(self.as_of)}"
        return (
            f"{self.name}: {self.data}, dated {_stamp(self.as_of)} ({self.age_days(now)} days old)"
        )

    def to_dict(self, max_age_days: int, now: datetime) -> dict[str, Any]:
        return {
            "source": self.name,
            "data": self.data,
            "as_of": self.as_of.isoformat(timespec="seconds") if self.as_of else None,
            "age_days": self.age_days(now),
            "live": self.live,
            "stale": self.stale(max_age_days, now),
            "max_age_days": max_age_days,
            "packages": self.packages,
            "findings": len(self.findings),
            "error": self.error or None,
        }


def _stamp(moment: datetime | None) -> str:
    return "never" if moment is None else moment.date().isoformat()


def measured(name: str, audit: Callable[[], SourceResult]) -> SourceResult:
    """Run one source; its MeasurementError becomes the result's error, so the others still
    run and the report shows every source's state."""
    try:
        return audit()
    except MeasurementError as exc:
        return SourceResult(name, error=str(exc))


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if environ is None else environ).get(CI_ENV, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
