"""An offline OSV advisory source: a directory laid out like the PyPA advisory database.

``load(directory)`` reads every ``*.yaml``/``*.yml``/``*.json`` file under ``directory/vulns``
(the PyPA layout is ``vulns/<package>/<ID>.yaml``; osv.dev's flat ``<ID>.json`` export unpacked
into ``vulns/`` works too) and keeps the affected entries of the ``PyPI`` ecosystem. A pin
``(name, version)`` is matched with ``packaging``'s semantics: canonical names, PEP 440 versions,
explicit ``versions`` lists and ``ECOSYSTEM`` ranges evaluated the way the OSV schema specifies
(events sorted by version; ``introduced: "0"`` is the start of time; affected within
``[introduced, fixed)`` or ``[introduced, last_affected]``; all ranges and entries OR'ed).
``GIT`` and ``SEMVER`` ranges are ignored (PyPI entries carry ``ECOSYSTEM`` ranges as well), and
so are withdrawn records.

Fail closed:
- no directory, no ``vulns/``, or no advisory file in it -> ``ConfigError`` (exit 2);
- a file that does not parse, or lacks ``id``/``modified``/``affected``, or holds a value of
  the wrong type, a bad range or timestamp -> ``MeasurementError`` naming the file (relative
  to the directory) and the key (exit 3). No malformed file is ever skipped.

A version string that is not PEP 440 (PyPI's legacy releases such as ``0.7.10p1``; the real
database holds such strings) is read conservatively rather than rejected, so that it can only
add findings: in a ``versions`` list it matches no pin (a pin is always PEP 440); as a range's
``introduced`` it means "from the start"; as ``fixed`` or ``last_affected`` it means the range
never ends. ``limit`` events are ignored for the same reason: they can only narrow a range.

``Mirror.newest_modified`` (the newest ``modified`` timestamp among all records) is the data
date of the mirror: how current its advisories are.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from gates.outcome import ConfigError, MeasurementError

ECOSYSTEM = "PyPI"
SUFFIXES = (".yaml", ".yml", ".json")
HOW_TO_FIX = (
    "point PIPELINE_OSV_DIR or [tool.pipeline.security] osv_dir at a copy of the PyPA "
    "advisory database (https://github.com/pypa/advisory-database)"
)
# database_specific.severity as GitHub's advisories spell it -> the policy's levels.
SEVERITIES = {
    "LOW": "LOW",
    "MODERATE": "MEDIUM",
    "MEDIUM": "MEDIUM",
    "HIGH": "HIGH",
    "CRITICAL": "CRITICAL",
}
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)


try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _StringScalarLoader(_SafeLoader):
    """YAML 1.1 would read ``0.10`` as the float 0.1 and an unquoted ``modified`` as a naive
    datetime; OSV values are strings, so numbers and timestamps stay as written."""


_StringScalarLoader.yaml_implicit_resolvers = {
    first: [
        (tag, pattern)
        for tag, pattern in resolvers
        if tag not in {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", TIMESTAMP_TAG}
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class _Bound:
    """A range event's version; ``None`` is "unbounded" (the start, or a range that never
    ends), and ``text`` is the version as the file wrote it."""

    version: Version | None
    text: str


@dataclass(frozen=True)
class _Range:
    # (kind, bound) sorted the way the OSV evaluation needs; kind: introduced/fixed/last_affected
    events: tuple[tuple[str, _Bound], ...]

    def contains(self, version: Version) -> bool:
        affected = False
        for kind, bound in self.events:
            if bound.version is None:
                # introduced "0" or unparseable: from the start; fixed/last_affected: never ends
                affected = affected or kind == "introduced"
            elif kind == "introduced" and version >= bound.version:
                affected = True
            elif kind == "fixed" and version >= bound.version:
                affected = False
            elif kind == "last_affected" and version > bound.version:
                affected = False
        return affected

    def fixed(self) -> list[_Bound]:
        return [bound for kind, bound in self.events if kind == "fixed"]


@dataclass(frozen=True)
class _Entry:
    """One ``affected`` entry of the record for this package."""

    ranges: tuple[_Range, ...]
    versions: frozenset[Version]

    def fixed_for(self, version: Version) -> list[_Bound] | None:
        """The fixed versions that apply when ``version`` is affected, else None."""
        matched = [r for r in self.ranges if r.contains(version)]
        if matched:
            return [bound for r in matched for bound in r.fixed()]
        if version in self.versions:
            # Listed explicitly but in no range: name the fixes above it, so the finding still
            # says where to upgrade to.
            return [
                bound
                for r in self.ranges
                for bound in r.fixed()
                if bound.version is None or bound.version > version
            ]
        return None


@dataclass(frozen=True)
class Advisory:
    """One advisory for one package. In ``Mirror.advisories`` ``fixed`` lists every fixed
    version of the package's ranges; ``Mirror.affecting`` returns copies whose ``fixed`` holds
    only the fixed versions of the ranges that matched the pin. ``fixed`` is sorted by
    ``Version``; a fixed version that is not PEP 440 comes last, as written."""

    id: str
    aliases: tuple[str, ...]
    summary: str  # summary, else the first line of details, else ""
    package: str  # canonical name
    fixed: tuple[str, ...]
    source_file: str  # relative to the mirror's directory
    severity: str = "UNKNOWN"  # LOW/MEDIUM/HIGH/CRITICAL only from database_specific.severity
    entries: tuple[_Entry, ...] = field(default=(), repr=False, compare=False)

    def affects(self, version: str) -> bool:
        return self._fixed_for(_pin(self.package, version)) is not None

    def _fixed_for(self, version: Version) -> tuple[str, ...] | None:
        found: list[_Bound] | None = None
        for entry in self.entries:
            fixed = entry.fixed_for(version)
            if fixed is not None:
                found = (found or []) + fixed
        return None if found is None else _sorted_fixed(found)


@dataclass(frozen=True)
class Mirror:
    directory: Path
    advisories: tuple[Advisory, ...]  # withdrawn records and other ecosystems left out
    newest_modified: datetime  # tz-aware UTC: the data date of the mirror
    files: int
    by_package: Mapping[str, tuple[Advisory, ...]] = field(repr=False, compare=False)
    records: Mapping[str, dict[str, Any]] = field(repr=False, compare=False)

    def affecting(self, name: str, version: str) -> list[Advisory]:
        """The advisories affecting ``name==version``, by id, each with the fixed versions of
        the ranges that matched."""
        package = canonicalize_name(name)
        pinned = _pin(package, version)
        found = []
        for advisory in self.by_package.get(package, ()):
            fixed = advisory._fixed_for(pinned)
            if fixed is not None:
                found.append(replace(advisory, fixed=fixed))
        return sorted(found, key=lambda advisory: advisory.id)

    def raw(self, advisory_id: str) -> dict[str, Any]:
        """The OSV record as parsed from its file (JSON-serialisable)."""
        return self.records[advisory_id]


def load(directory: Path) -> Mirror:
    vulns = directory / "vulns"
    if not directory.is_dir():
        raise ConfigError(f"OSV directory {directory} does not exist; {HOW_TO_FIX}")
    if not vulns.is_dir():
        raise ConfigError(f"OSV directory {directory} has no vulns/ directory; {HOW_TO_FIX}")
    paths = sorted(p for p in vulns.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    if not paths:
        raise ConfigError(
            f"OSV directory {directory} has no vulns/<package>/<id>.yaml files; {HOW_TO_FIX}"
        )
    advisories: list[Advisory] = []
    records: dict[str, dict[str, Any]] = {}
    files_by_id: dict[str, str] = {}
    modified: list[datetime] = []
    with _collector_paused():
        for path in paths:
            relative = path.relative_to(directory).as_posix()
            record = _read(path, relative)
            parsed = _Record(record, relative)
            if parsed.id in files_by_id:
                raise MeasurementError(
                    f"OSV files {files_by_id[parsed.id]} and {relative} both hold id "
                    f"{parsed.id}; remove one"
                )
            files_by_id[parsed.id] = relative
            modified.append(parsed.modified)
            if parsed.withdrawn:
                continue
            found = parsed.advisories()
            if found:
                records[parsed.id] = record
                advisories.extend(found)
    by_package: dict[str, list[Advisory]] = {}
    for advisory in advisories:
        by_package.setdefault(advisory.package, []).append(advisory)
    return Mirror(
        directory=directory,
        advisories=tuple(advisories),
        newest_modified=max(modified),
        files=len(paths),
        by_package={name: tuple(found) for name, found in by_package.items()},
        records=records,
    )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing allocates millions of objects, none in a reference cycle, and the mirror keeps
    them; CPython's cycle collector would traverse the growing heap again and again (measured:
    530 µs per file at 20 000 files with it, 245 without; docs/benchmarks.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read(path: Path, relative: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            record = json.loads(text)
        else:
            # _StringScalarLoader is a SafeLoader (bandit only knows SafeLoader by name)
            record = yaml.load(text, Loader=_StringScalarLoader)  # nosec B506
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as error:
        problem = str(error).replace("\n", " ")
        raise MeasurementError(f"OSV file {relative} could not be read: {problem}") from error
    if not isinstance(record, dict):
        raise MeasurementError(f"OSV file {relative} holds no OSV record (a mapping)")
    return record


class _Record:
    """Checks one parsed record, naming the file and the key of anything malformed."""

    def __init__(self, record: dict[str, Any], relative: str) -> None:
        self.record = record
        self.relative = relative
        self.id = self._text(record, "id", "id")
        self.modified = self._timestamp(record, "modified")
        self.withdrawn = "withdrawn" in record
        if self.withdrawn:
            self._timestamp(record, "withdrawn")

    def _fail(self, key: str, problem: str) -> MeasurementError:
        return MeasurementError(
            f"OSV file {self.relative}: {key} {problem}; fix or remove the file"
        )

    def _get(self, mapping: Mapping[str, Any], name: str, key: str) -> Any:
        if name not in mapping:
            raise self._fail(key, "is missing")
        return mapping[name]

    def _text(self, mapping: Mapping[str, Any], name: str, key: str) -> str:
        value = self._get(mapping, name, key)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, f"is not a non-empty string: {value!r}")
        return value

    def _list(self, mapping: Mapping[str, Any], name: str, key: str) -> Sequence[Any]:
        value = mapping.get(name, [])
        if not isinstance(value, list):
            raise self._fail(key, f"is not a list: {value!r}")
        return value

    def _mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self._fail(key, f"is not a mapping: {value!r}")
        return value

    def _timestamp(self, mapping: Mapping[str, Any], name: str) -> datetime:
        text = self._text(mapping, name, name)
        match = RFC3339.fullmatch(text)
        if match is None:
            raise self._fail(name, f"is not an RFC 3339 timestamp: {text!r}")
        # fromisoformat takes at most microseconds and an upper-case T/Z
        fraction = match["fraction"] or ""
        normal = text[: match.start("fraction")] if fraction else text[: match.start("offset")]
        normal = normal[:10] + "T" + normal[11:] + fraction[:7]
        offset = "+00:00" if match["offset"] in "Zz" else match["offset"]
        try:
            return datetime.fromisoformat(normal + offset).astimezone(timezone.utc)
        except ValueError:
            raise self._fail(name, f"is not a valid date and time: {text!r}") from None

    def advisories(self) -> list[Advisory]:
        """One Advisory per PyPI package the record affects."""
        entries: dict[str, list[_Entry]] = {}
        affected = self._get(self.record, "affected", "affected")
        if not isinstance(affected, list):
            raise self._fail("affected", f"is not a list: {affected!r}")
        for index, item in enumerate(affected):
            key = f"affected[{index}]"
            item = self._mapping(item, key)
            package = self._mapping(self._get(item, "package", f"{key}.package"), f"{key}.package")
            ecosystem = self._text(package, "ecosystem", f"{key}.package.ecosystem")
            name = self._text(package, "name", f"{key}.package.name")
            if ecosystem != ECOSYSTEM:
                continue
            entries.setdefault(canonicalize_name(name), []).append(self._entry(item, key))
        aliases = self._list(self.record, "aliases", "aliases")
        if not all(isinstance(alias, str) for alias in aliases):
            raise self._fail("aliases", f"is not a list of strings: {aliases!r}")
        return [
            Advisory(
                id=self.id,
                aliases=tuple(aliases),
                summary=self._summary(),
                package=package,
                fixed=_sorted_fixed(
                    [bound for e in found for r in e.ranges for bound in r.fixed()]
                ),
                source_file=self.relative,
                severity=self._severity(),
                entries=tuple(found),
            )
            for package, found in entries.items()
        ]

    def _entry(self, item: Mapping[str, Any], key: str) -> _Entry:
        ranges = []
        for number, value in enumerate(self._list(item, "ranges", f"{key}.ranges")):
            range_key = f"{key}.ranges[{number}]"
            value = self._mapping(value, range_key)
            kind = self._text(value, "type", f"{range_key}.type")
            if kind == "ECOSYSTEM":
                ranges.append(self._range(value, range_key))
        versions = self._list(item, "versions", f"{key}.versions")
        for number, listed in enumerate(versions):
            if not isinstance(listed, str) or not listed.strip():
                raise self._fail(f"{key}.versions[{number}]", f"is not a version: {listed!r}")
        if not ranges and not versions:
            # it could only ever match nothing: say so rather than report no finding
            raise self._fail(key, "has no ECOSYSTEM range and no versions list")
        return _Entry(tuple(ranges), frozenset(_versions(versions)))

    def _range(self, value: Mapping[str, Any], key: str) -> _Range:
        events: list[tuple[str, _Bound]] = []
        raw_events = self._get(value, "events", f"{key}.events")
        if not isinstance(raw_events, list) or not raw_events:
            raise self._fail(f"{key}.events", f"is not a non-empty list: {raw_events!r}")
        for number, event in enumerate(raw_events):
            event_key = f"{key}.events[{number}]"
            event = self._mapping(event, event_key)
            if len(event) != 1:
                raise self._fail(event_key, f"does not hold exactly one event: {event!r}")
            ((kind, text),) = event.items()
            if kind == "limit":
                continue
            if kind not in {"introduced", "fixed", "last_affected"}:
                raise self._fail(event_key, f"has an unknown event {kind!r}")
            if not isinstance(text, str) or not text.strip():
                raise self._fail(f"{event_key}.{kind}", f"is not a version string: {text!r}")
            events.append((kind, _Bound(_version(text, kind), text)))
        if not any(kind == "introduced" for kind, _ in events):
            raise self._fail(f"{key}.events", "has no introduced event")
        return _Range(tuple(sorted(events, key=_event_order)))

    def _summary(self) -> str:
        for name in ("summary", "details"):
            value = self.record.get(name)
            if value is not None and not isinstance(value, str):
                raise self._fail(name, f"is not a string: {value!r}")
            if value and value.strip():
                return value.strip().splitlines()[0]
        return ""

    def _severity(self) -> str:
        specific = self.record.get("database_specific")
        severity = specific.get("severity") if isinstance(specific, dict) else None
        if not isinstance(severity, str):
            return "UNKNOWN"
        return SEVERITIES.get(severity.strip().upper(), "UNKNOWN")


def _version(text: str, kind: str) -> Version | None:
    if kind == "introduced" and text == "0":
        return None
    try:
        return Version(text)
    except InvalidVersion:
        return None  # legacy version: read conservatively (see the module docstring)


def _versions(texts: Iterable[str]) -> Iterable[Version]:
    for text in texts:
        try:
            yield Version(text)
        except InvalidVersion:
            pass  # a legacy version string can equal no PEP 440 pin


def _event_order(event: tuple[str, _Bound]) -> tuple[int, Version]:
    kind, bound = event
    if bound.version is None:
        # the start sorts first; a range that never ends, last
        return (0 if kind == "introduced" else 2, Version("0"))
    return (1, bound.version)


def _sorted_fixed(bounds: Sequence[_Bound]) -> tuple[str, ...]:
    valid = sorted({b.text: b.version for b in bounds if b.version}.items(), key=lambda t: t[1])
    legacy = dict.fromkeys(b.text for b in bounds if b.version is None)
    return tuple([text for text, _ in valid] + list(legacy))


def _pin(package: str, version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        raise MeasurementError(
            f"pinned version {version!r} of {package} is not a PEP 440 version; "
            "the OSV mirror cannot match it"
        ) from None
