"""An installed release is checked against its wheels before it is used again.

A real (tiny) release is installed with uv, offline and hash-checked, exactly as deploys do;
then the installed copy is changed in the ways an edit after install could change it.
"""

import base64
import hashlib
import shutil
import zipfile

import pytest

from gates.release.install import InstalledCopyChanged, install, verify_installed
from support.release_store import make_wheel

MODULE = "tiny/__init__.py"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A release directory whose wheelhouse holds one wheel, and its requirements."""
    directory = tmp_path_factory.mktemp("release")
    (directory / "wheelhouse").mkdir()
    wheel = make_wheel(directory / "wheelhouse", "tiny", {MODULE: "ANSWER = 42\n"})
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (directory / "requirements.txt").write_text(f"tiny==1.0 --hash=sha256:{digest}\n")
    return directory


@pytest.fixture(scope="module")
def installed_once(release, tmp_path_factory):
    venv = tmp_path_factory.mktemp("installed") / "venv"
    install(release, venv, timeout=120, verify_first=False)  # also runs verify_installed
    return venv


@pytest.fixture
def venv(installed_once, tmp_path):
    copy = tmp_path / "venv"
    shutil.copytree(installed_once, copy, symlinks=True)
    return copy


def site(venv):
    return next(venv.glob("lib/python*/site-packages"))


def rewrite_record(venv, path, data):
    """Edit the installed RECORD too, as a careful tamperer would."""
    record = site(venv) / "tiny-1.0.dist-info" / "RECORD"
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    lines = [
        f"{path},sha256={digest},{len(data)}" if line.startswith(path + ",") else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(lines) + "\n")


def test_an_untouched_install_and_bytecode_pass(release, venv):
    cache = site(venv) / "tiny" / "__pycache__"
    cache.mkdir()
    (cache / "__init__.cpython-311.pyc").write_bytes(b"bytecode Python wrote")
    verify_installed(release, venv)


def edit(venv):
    (site(venv) / MODULE).write_text("ANSWER = 'TAMPERED after install'\n")


def edit_with_record(venv):
    data = b"ANSWER = 'TAMPERED, RECORD too'\n"
    (site(venv) / MODULE).write_bytes(data)
    rewrite_record(venv, MODULE, data)


def delete(venv):
    (site(venv) / MODULE).unlink()


def add_pth(venv):
    (site(venv) / "zz-startup.pth").write_text("import os\n")


def add_distribution(venv):
    with zipfile.ZipFile(make_wheel(venv.parent, "extra", {"extra.py": ""})) as archive:
        archive.extractall(site(venv))


@pytest.mark.parametrize(
    "change, named",
    [
        (edit, f"{MODULE} differs from tiny-1.0-py3-none-any.whl"),
        (edit_with_record, f"{MODULE} differs from tiny-1.0-py3-none-any.whl"),
        (delete, f"{MODULE} differs"),
        (add_pth, "zz-startup.pth is not a file of the release"),
        (add_distribution, "extra is not in the release"),
    ],
)
def test_a_changed_install_is_refused_naming_what_changed(release, venv, change, named):
    change(venv)
    with pytest.raises(InstalledCopyChanged) as refused:
        verify_installed(release, venv)
    message = str(refused.value)
    assert named in message and "\n" not in message
    assert f"Remove {venv} to install it again" in message
    assert InstalledCopyChanged.exit_code == 1
