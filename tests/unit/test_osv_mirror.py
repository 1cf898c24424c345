"""gates.security.osv_mirror: matching pins with packaging's semantics, failing closed on
directories and files it cannot read, and the mirror's data date."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from gates.outcome import ConfigError, MeasurementError
from gates.security.osv_mirror import load
from support.osv_fixture import FIXTURE, FIXTURE_MODIFIED, osv_copy

MODIFIED = "2026-11-01T00:00:00Z"


def record(id="TEST-1", package="demo", ranges=None, versions=None, **extra):
    entry = {"package": {"name": package, "ecosystem": "PyPI"}}
    if ranges is not None:
        entry["ranges"] = ranges
    if versions is not None:
        entry["versions"] = versions
    return {"id": id, "affected": [entry], "modified": MODIFIED, **extra}


def ecosystem(*events):
    """An ECOSYSTEM range from ("introduced", "0"), ("fixed", "1.0"), ... pairs."""
    return {"type": "ECOSYSTEM", "events": [{kind: text} for kind, text in events]}


def write(directory, records, suffix=".yaml"):
    """Each record to vulns/<first package>/<id><suffix>; returns the directory."""
    for data in records:
        folder = directory / "vulns" / data["affected"][0]["package"]["name"].lower()
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data) if suffix == ".json" else yaml.safe_dump(data)
        (folder / f"{data['id']}{suffix}").write_text(text)
    return directory


@pytest.fixture(scope="module")
def fixture_mirror():
    return load(FIXTURE)


# (name, version, {advisory id: fixed versions}) against tests/support/osv
FIXTURE_CASES = [
    # ECOSYSTEM range introduced "0", fixed 0.12.3 (its GIT range is ignored)
    ("flask", "0.12.2", {"PYSEC-2018-66": ("0.12.3",)}),
    ("Flask", "0.1", {"PYSEC-2018-66": ("0.12.3",)}),
    ("flask", "0.12.3rc1", {"PYSEC-2018-66": ("0.12.3",)}),  # a pre-release of the fix
    ("flask", "0.12.3", {}),
    ("FLASK", "2.3.2", {}),  # and the withdrawn TEST-2026-3, which covers every version: never
    # explicit versions list only: exact PEP 440 equality, names canonicalised
    ("Jinja2", "2.10", {"PYSEC-2019-217": ()}),
    ("jinja2", "2.10.0", {"PYSEC-2019-217": ()}),
    ("jinja2", "2.9.6", {"PYSEC-2019-217": ()}),
    ("jinja2", "2.9.5", {}),  # between listed versions, and no range
    ("jinja2", "2.10.1", {}),
    # last_affected 2.0.1 is inclusive; the record names the package "MarkupSafe"
    ("markupsafe", "2.0", {"TEST-2026-1": ()}),
    ("MarkupSafe", "2.0.1", {"TEST-2026-1": ()}),
    ("markupsafe", "2.0.1.post1", {}),
    ("markupsafe", "2.0.2", {}),
    ("markupsafe", "2.0rc1", {}),  # before introduced
    ("markupsafe", "1.1.1", {}),
    # one range with two intervals, written out of order; a pre-release as introduced
    ("werkzeug", "1.0", {"TEST-2026-2": ("1.0.2", "2.0.3")}),
    ("werkzeug", "1.0.1", {"TEST-2026-2": ("1.0.2", "2.0.3")}),
    ("werkzeug", "1.0.2", {}),
    ("werkzeug", "1.5", {}),
    ("werkzeug", "2.0.0b1", {}),
    ("Werkzeug", "2.0.0rc1", {"TEST-2026-2": ("1.0.2", "2.0.3")}),
    ("werkzeug", "2.0.2", {"TEST-2026-2": ("1.0.2", "2.0.3")}),
    ("werkzeug", "2.0.3", {}),
    ("werkzeug", "0.16", {}),
    ("gunicorn", "19.0", {}),  # no advisory at all
]


@pytest.mark.parametrize("name, version, expected", FIXTURE_CASES)
def test_matching_the_fixture(fixture_mirror, name, version, expected):
    found = fixture_mirror.affecting(name, version)
    assert {advisory.id: advisory.fixed for advisory in found} == expected
    assert all(advisory.affects(version) for advisory in found)


def test_the_fixture_advisories_as_read(fixture_mirror):
    assert fixture_mirror.files == 6
    by_id = {advisory.id: advisory for advisory in fixture_mirror.advisories}
    # the withdrawn record and the npm one are not advisories for PyPI
    assert sorted(by_id) == ["PYSEC-2018-66", "PYSEC-2019-217", "TEST-2026-1", "TEST-2026-2"]
    flask = by_id["PYSEC-2018-66"]
    assert flask.package == "flask" and flask.source_file == "vulns/flask/PYSEC-2018-66.yaml"
    assert flask.aliases == ("CVE-2018-1000656", "GHSA-562c-5r94-xh97")
    assert flask.summary.startswith("TEST FIXTURE: Flask before 0.12.3 decodes JSON")
    assert flask.severity == "UNKNOWN"
    assert by_id["TEST-2026-1"].package == "markupsafe"
    assert by_id["TEST-2026-2"].severity == "MEDIUM"  # database_specific MODERATE
    # no summary: the first line of details
    assert by_id["PYSEC-2019-217"].summary.startswith("TEST FIXTURE written for")
    assert by_id["PYSEC-2019-217"].summary.endswith("reach str.format and escape.")
    assert fixture_mirror.raw("PYSEC-2018-66")["affected"][0]["versions"][0] == "0.10"
    assert fixture_mirror.raw("TEST-2026-2")["database_specific"] == {"severity": "MODERATE"}


# (ranges, versions, {version: fixed versions, or None when not affected})
RECORD_CASES = [
    pytest.param(
        [ecosystem(("introduced", "0"), ("fixed", "1.0"))],
        None,
        {"0.0.dev0": ("1.0",), "0.1a1": ("1.0",), "0.9.9": ("1.0",), "1.0": None},
        id="introduced 0 is the start, pre-releases included",
    ),
    pytest.param(
        [ecosystem(("introduced", "1.0"), ("fixed", "1.2")), ecosystem(("introduced", "2.0"))],
        None,
        {"0.9": None, "1.1": ("1.2",), "1.2": None, "2.0": (), "9.0": ()},
        id="several ranges are OR'ed, each with its own fix",
    ),
    pytest.param(
        [ecosystem(("introduced", "0"), ("last_affected", "1.4"))],
        None,
        {"1.4": (), "1.4.0": (), "1.4.post1": None, "1.5a1": None},
        id="last_affected is inclusive",
    ),
    pytest.param(
        [ecosystem(("fixed", "3.0"), ("introduced", "2.5"), ("fixed", "2.0"), ("introduced", "1"))],
        None,
        {"1.5": ("2.0", "3.0"), "2.2": None, "2.7": ("2.0", "3.0"), "3.0": None},
        id="events are sorted before they are read",
    ),
    pytest.param(
        [ecosystem(("introduced", "1.0"), ("limit", "1.5"), ("fixed", "2.0"))],
        None,
        {"1.7": ("2.0",)},
        id="limit is ignored: it could only narrow the range",
    ),
    pytest.param(
        [ecosystem(("introduced", "0"), ("fixed", "2019-09-12"))],
        None,
        {"0.1": ("2019-09-12",), "99": ("2019-09-12",)},
        id="a legacy fixed version never ends the range, and is named",
    ),
    pytest.param(
        [ecosystem(("introduced", "0.2.0-n653"), ("fixed", "1.0"))],
        None,
        {"0.0.1": ("1.0",), "1.0": None},
        id="a legacy introduced version is the start",
    ),
    pytest.param(
        [{"type": "GIT", "repo": "https://example.invalid/r", "events": [{"introduced": "0"}]}],
        ["1.0", "0.7.10p1", "2.0.0-final"],
        {"1.0.0": (), "0.7.10": None, "2.0.0": None, "1.1": None},
        id="explicit versions: PEP 440 equality, legacy strings match no pin, GIT ignored",
    ),
    pytest.param(
        [ecosystem(("introduced", "0"), ("fixed", "1.0"), ("introduced", "2.0"), ("fixed", "2.1"))],
        ["1.5"],
        {"1.5": ("2.1",), "0.5": ("1.0", "2.1"), "1.6": None},
        id="a version listed outside the ranges names the fixes above it",
    ),
]


@pytest.mark.parametrize("ranges, versions, expected", RECORD_CASES)
def test_matching_written_records(tmp_path, ranges, versions, expected):
    mirror = load(write(tmp_path, [record(ranges=ranges, versions=versions)]))
    for version, fixed in expected.items():
        found = mirror.affecting("demo", version)
        assert {a.id: a.fixed for a in found} == ({} if fixed is None else {"TEST-1": fixed})


def test_several_packages_and_entries_in_one_record(tmp_path):
    data = record(package="Zope.Interface", ranges=[ecosystem(("introduced", "0"))])
    data["affected"] += [
        {
            "package": {"name": "zope_interface", "ecosystem": "PyPI"},
            "ranges": [ecosystem(("introduced", "0"), ("fixed", "5.0"))],
        },
        {"package": {"name": "other", "ecosystem": "PyPI"}, "versions": ["1.0"]},
        {"package": {"name": "zope.interface", "ecosystem": "Debian"}, "versions": ["4.0"]},
    ]
    mirror = load(write(tmp_path, [data], suffix=".json"))
    # one Advisory per (id, package); entries of the same canonical package are OR'ed
    assert sorted(a.package for a in mirror.advisories) == ["other", "zope-interface"]
    (found,) = mirror.affecting("zope-interface", "6.0")
    assert found.fixed == () and found.source_file == "vulns/zope.interface/TEST-1.json"
    assert mirror.affecting("ZOPE.INTERFACE", "4.0")[0].fixed == ("5.0",)
    assert [a.id for a in mirror.affecting("other", "1.0")] == ["TEST-1"]


@pytest.mark.parametrize(
    "database_specific, severity",
    [
        ({"severity": "MODERATE"}, "MEDIUM"),
        ({"severity": "critical"}, "CRITICAL"),
        ({"severity": "LOW"}, "LOW"),
        ({"severity": "7.5"}, "UNKNOWN"),
        ({"severity": ["HIGH"]}, "UNKNOWN"),
        ({}, "UNKNOWN"),
        ("HIGH", "UNKNOWN"),
    ],
)
def test_severity_only_from_a_plain_database_specific_level(tmp_path, database_specific, severity):
    data = record(versions=["1.0"], database_specific=database_specific)
    data["severity"] = [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
    ]
    (advisory,) = load(write(tmp_path, [data])).advisories
    assert advisory.severity == severity


def test_a_pin_that_is_not_pep_440_cannot_be_matched(fixture_mirror):
    with pytest.raises(MeasurementError, match="'0.12.2-final-x' of flask is not a PEP 440"):
        fixture_mirror.affecting("flask", "0.12.2-final-x")


def without(key):
    def change(data):
        del data[key]

    return change


def setting(path, value):
    """Set data[path[0]][path[1]]... to value (integers index lists)."""

    def change(data):
        target = data
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return change


MALFORMED = [
    pytest.param(without("id"), "id is missing", id="no id"),
    pytest.param(without("modified"), "modified is missing", id="no modified"),
    pytest.param(without("affected"), "affected is missing", id="no affected"),
    pytest.param(setting(["id"], ""), "id is not a non-empty string", id="empty id"),
    pytest.param(setting(["modified"], "2026-11-01"), "modified is not an RFC 3339", id="date"),
    pytest.param(
        setting(["modified"], "2026-11-01T00:00:00"), "modified is not an RFC 3339", id="naive"
    ),
    pytest.param(
        setting(["modified"], "2026-13-01T00:00:00Z"), "modified is not a valid date", id="month"
    ),
    pytest.param(setting(["withdrawn"], "soon"), "withdrawn is not an RFC 3339", id="withdrawn"),
    pytest.param(setting(["affected"], {"a": 1}), "affected is not a list", id="affected dict"),
    pytest.param(setting(["affected", 0], "flask"), "affected[0] is not a mapping", id="entry"),
    pytest.param(
        setting(["affected", 0, "package"], {"name": "demo"}),
        "affected[0].package.ecosystem is missing",
        id="no ecosystem",
    ),
    pytest.param(
        lambda data: data["affected"][0].update(
            ranges=[{"type": "GIT", "events": []}], versions=[]
        ),
        "affected[0] has no ECOSYSTEM range and no versions list",
        id="no versions at all",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0, "events"], []),
        "affected[0].ranges[0].events is not a non-empty list",
        id="no events",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0, "events"], [{"fixed": "1.0"}]),
        "affected[0].ranges[0].events has no introduced event",
        id="no introduced",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0, "events", 1], {"fixd": "1.0"}),
        "affected[0].ranges[0].events[1] has an unknown event 'fixd'",
        id="unknown event",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0, "events", 1], {"fixed": "1.0", "introduced": "0"}),
        "affected[0].ranges[0].events[1] does not hold exactly one event",
        id="two events in one",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0, "events", 0], {"introduced": 0}),
        "affected[0].ranges[0].events[0].introduced is not a version string: 0",
        id="number as version",
    ),
    pytest.param(
        setting(["affected", 0, "ranges", 0], {"events": []}),
        "affected[0].ranges[0].type is missing",
        id="no range type",
    ),
    pytest.param(
        setting(["affected", 0, "versions"], [1.0]),
        "affected[0].versions[0] is not a version: 1.0",
        id="number in versions",
    ),
    pytest.param(setting(["aliases"], "CVE-1"), "aliases is not a list", id="aliases"),
    pytest.param(setting(["summary"], ["x"]), "summary is not a string", id="summary"),
]


@pytest.mark.parametrize("change, problem", MALFORMED)
def test_a_malformed_record_names_its_file_and_key(tmp_path, change, problem):
    good = record(
        id="GOOD-1", ranges=[ecosystem(("introduced", "0"), ("fixed", "1.0"))], versions=["0.5"]
    )
    bad = record(ranges=[ecosystem(("introduced", "0"), ("fixed", "1.0"))], versions=["0.5"])
    # JSON, so that a test can plant numbers where OSV wants strings
    write(tmp_path, [good])
    write(tmp_path, [bad], suffix=".json")
    change(bad)
    (tmp_path / "vulns/demo/TEST-1.json").write_text(json.dumps(bad))
    load(write(tmp_path / "control", [good]))  # the good record alone loads
    with pytest.raises(MeasurementError) as raised:
        load(tmp_path)
    message = str(raised.value)
    assert message.startswith("OSV file vulns/demo/TEST-1.json: ") and problem in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "text, problem",
    [
        ("id: [unclosed\n", "could not be read"),
        ("- just\n- a list\n", "holds no OSV record"),
        ("", "holds no OSV record"),
        ("\xff\xfe", "could not be read"),
    ],
)
def test_an_unreadable_file_is_named(tmp_path, text, problem):
    write(tmp_path, [record(versions=["1.0"])])
    path = tmp_path / "vulns/flask/BROKEN-1.yml"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(MeasurementError, match=f"^OSV file vulns/flask/BROKEN-1.yml {problem}"):
        load(tmp_path)


def test_a_broken_json_file_is_named(tmp_path):
    write(tmp_path, [record(versions=["1.0"])], suffix=".json")
    (tmp_path / "vulns/demo/TEST-1.json").write_text('{"id": "TEST-1",')
    with pytest.raises(MeasurementError, match="^OSV file vulns/demo/TEST-1.json could not be"):
        load(tmp_path)


def test_one_id_in_two_files_is_refused(tmp_path):
    write(tmp_path, [record(versions=["1.0"])])
    write(tmp_path, [record(versions=["2.0"])], suffix=".json")
    with pytest.raises(MeasurementError, match="vulns/demo/TEST-1.json and .*TEST-1.yaml both"):
        load(tmp_path)


def test_a_withdrawn_record_is_read_but_never_matched(tmp_path):
    withdrawn = record(ranges=[{"type": "GIT", "events": []}], withdrawn="2026-11-05T00:00:00Z")
    mirror = load(write(tmp_path, [withdrawn]))  # its affected entries are not judged
    assert mirror.files == 1 and mirror.advisories == () and mirror.affecting("demo", "1") == []
    assert mirror.newest_modified == datetime(2026, 11, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "layout, problem",
    [
        (None, "does not exist"),
        ([], "has no vulns/ directory"),
        (["vulns/flask/"], "has no vulns/<package>/<id>.yaml files"),
        (["vulns/README.md", "vulns/.id-allocator"], "has no vulns/<package>/<id>.yaml files"),
    ],
)
def test_a_directory_without_advisories_is_a_config_error(tmp_path, layout, problem):
    directory = tmp_path / "mirror"
    for name in layout or ():
        if name.endswith("/"):
            (directory / name).mkdir(parents=True)
        else:
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text("not an advisory")
    if layout is not None:
        directory.mkdir(exist_ok=True)
    with pytest.raises(ConfigError) as raised:
        load(directory)
    message = str(raised.value)
    assert message.startswith(f"OSV directory {directory} {problem}; ")
    assert "PIPELINE_OSV_DIR" in message and "osv_dir" in message


def test_newest_modified_is_the_newest_record_in_utc(tmp_path):
    assert load(FIXTURE).newest_modified == FIXTURE_MODIFIED  # the withdrawn record's
    stamps = ["2026-11-02T23:30:00-02:00", "2026-11-03T01:29:59.123456789Z", "2026-11-01t00:00:00z"]
    records = [record(id=f"T-{n}", versions=["1"], modified=s) for n, s in enumerate(stamps)]
    newest = load(write(tmp_path, records)).newest_modified
    assert newest == datetime(2026, 11, 3, 1, 30, tzinfo=timezone.utc)
    assert newest.utcoffset() == timedelta(0)


def test_osv_copy_sets_every_modified_date(tmp_path):
    stale = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    mirror = load(osv_copy(tmp_path / "osv", modified=stale))
    assert mirror.newest_modified == stale and mirror.files == 6
    assert [a.id for a in mirror.affecting("flask", "0.12.2")] == ["PYSEC-2018-66"]
