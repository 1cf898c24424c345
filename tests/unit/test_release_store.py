"""Naming releases in the store: prefixes, ambiguity, the latest pointer, containment."""

import os

import pytest

from gates.config import load_config
from gates.outcome import ConfigError
from gates.release import store
from support.pipeline_project import make_project
from support.release_store import make_release, set_latest


@pytest.fixture
def config(tmp_path):
    return load_config(make_project(tmp_path / "project"), environ={})


def test_a_prefix_names_its_release_and_the_full_id_wins(config):
    base = store.releases_dir(config)
    rid = make_release(base, "a")
    assert store.resolve(config, rid[:4]) == base / rid
    assert store.resolve(config, rid) == base / rid


def test_an_ambiguous_prefix_is_refused_naming_both(config):
    base = store.releases_dir(config)
    first, second = "abcd" + "0" * 12, "abcd" + "1" * 12
    for name in (first, second):
        (base / name).mkdir(parents=True)
        (base / name / store.MANIFEST).write_text("{}")
    with pytest.raises(ConfigError, match=f"'abcd' is ambiguous: {first}, {second}"):
        store.resolve(config, "abcd")
    assert store.resolve(config, "abcd1") == base / second


def test_entries_not_named_by_an_id_are_never_candidates(config):
    base = store.releases_dir(config)
    rid = make_release(base, "a")
    os.rename(base / rid, base / f"{rid}.old")
    with pytest.raises(ConfigError, match="no release"):
        store.resolve(config, rid[:4])
    assert store.release_dirs(config) == []


def test_no_store_yet(config):
    with pytest.raises(ConfigError, match="no release has been built yet"):
        store.resolve(config, "latest")
    assert store.release_dirs(config) == []


@pytest.mark.parametrize("pointer", ["", "../x", "0123456789abcdef/..", "0123"])
def test_a_latest_pointer_that_is_not_an_id_is_tampering(config, pointer):
    base = store.releases_dir(config)
    make_release(base, "a")
    set_latest(base, pointer)
    with pytest.raises(store.TamperedRelease, match="not a release id"):
        store.resolve(config, "latest")


def test_a_link_out_of_the_store_is_tampering_even_when_listing(config, tmp_path):
    outside = make_release(tmp_path / "elsewhere", "b")
    base = store.releases_dir(config)
    base.mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere" / outside, base / outside)
    with pytest.raises(store.TamperedRelease, match="leads outside the store"):
        store.release_dirs(config)
    with pytest.raises(store.TamperedRelease, match="leads outside the store"):
        store.resolve(config, outside[:5])
