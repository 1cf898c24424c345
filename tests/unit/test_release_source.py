"""The release source export refuses archive members that would land outside its tree."""

import io
import tarfile

import pytest

from gates.outcome import ConfigError
from gates.release.source import _contained


def archive(*members):
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, kind, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, link
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    data.seek(0)
    return tarfile.open(fileobj=data)


def test_files_directories_and_inner_links_pass(tmp_path):
    tar = archive(
        ("app", tarfile.DIRTYPE, ""),
        ("app/a.py", tarfile.REGTYPE, ""),
        ("app/link.py", tarfile.SYMTYPE, "a.py"),
    )
    assert [m.name for m in _contained(tar, tmp_path)] == ["app", "app/a.py", "app/link.py"]


@pytest.mark.parametrize(
    "member",
    [
        ("../outside.py", tarfile.REGTYPE, ""),
        ("/etc/passwd", tarfile.REGTYPE, ""),
        ("app/escape", tarfile.SYMTYPE, "../../outside"),
        ("app/absolute", tarfile.SYMTYPE, "/etc/passwd"),
        ("app/hard", tarfile.LNKTYPE, "app/a.py"),
        ("app/dev", tarfile.CHRTYPE, ""),
    ],
)
def test_members_that_could_escape_are_refused(tmp_path, member):
    with pytest.raises(ConfigError, match="unsafe member"):
        list(_contained(archive(member), tmp_path))
