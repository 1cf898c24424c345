""".ci/install-packages: apt's lists refreshed, the packages installed noninteractively, and no
service started meanwhile: a policy-rc.d exiting 101 is in place during both apt-get calls and
gone afterwards, however the install ends, unless the machine had one (then it is kept).

The machine's apt is never touched: ``apt-get`` (and ``sudo``, and ``id`` for the not-root
case) are stubs on PATH that record what they were asked and what the policy said then, and
the policy file is a temporary path (``POLICY_RC_D``).
"""

import os
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".ci" / "install-packages"
KEPT_POLICY = "#!/bin/sh\n# the machine's own\nexit 0\n"

# Each call: its arguments, DEBIAN_FRONTEND, and what the policy file answered (its exit code,
# or "absent"). $APT_FAIL_ON names the subcommand that fails (exit 100, as apt does);
# $APT_SIGNAL_ON the one during which the script receives SIGTERM.
APT_GET = """#!/bin/sh
if [ -e "$POLICY_RC_D" ]; then "$POLICY_RC_D" docker start; answer=$?; else answer=absent; fi
echo "apt-get $* | frontend=${DEBIAN_FRONTEND:-unset} | policy=$answer" >> "$CALLS"
[ "$1" != "${APT_SIGNAL_ON:-}" ] || kill -TERM "$PPID"
[ "$1" != "${APT_FAIL_ON:-}" ] || exit 100
exit 0
"""
SUDO = """#!/bin/sh
echo "sudo $1" >> "$CALLS"
exec "$@"
"""
NOT_ROOT_ID = """#!/bin/sh
[ "$1" = -u ] && echo 1000 || exec /usr/bin/id "$@"
"""


@pytest.fixture
def machine(tmp_path):
    """Stubs on PATH, the calls they record and the policy path; runs the script there."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, text in {"apt-get": APT_GET, "sudo": SUDO}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    calls, policy = tmp_path / "calls", tmp_path / "policy-rc.d"

    def run(*packages: str, not_root: bool = False, **env: str):
        if not_root:
            (stubs / "id").write_text(NOT_ROOT_ID)
            (stubs / "id").chmod(0o755)
        environ = {
            **{k: v for k, v in os.environ.items() if k != "DEBIAN_FRONTEND"},
            "PATH": f"{stubs}:{os.environ['PATH']}",
            "CALLS": str(calls),
            "POLICY_RC_D": str(policy),
            **env,
        }
        done = subprocess.run(
            [str(SCRIPT), *packages], env=environ, capture_output=True, text=True, timeout=60
        )
        recorded = calls.read_text().splitlines() if calls.exists() else []
        return done, recorded

    run.policy = policy  # type: ignore[attr-defined]
    return run


INSTALL = "apt-get install -y -q debootstrap docker-registry prometheus"
PACKAGES = ("debootstrap", "docker-registry", "prometheus")


def test_no_package_named_is_a_usage_error_in_one_line(machine):
    done, calls = machine()
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "name the packages to install" in done.stderr
    assert calls == [] and not machine.policy.exists()


def test_updates_then_installs_noninteractively_with_every_service_start_refused(machine):
    done, calls = machine(*PACKAGES)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "apt-get update -q | frontend=unset | policy=101",
        f"{INSTALL} | frontend=noninteractive | policy=101",
    ]
    assert not machine.policy.exists(), "the policy-rc.d it wrote outlives the install"


def test_a_policy_the_machine_had_is_used_and_kept(machine):
    machine.policy.write_text(KEPT_POLICY)
    machine.policy.chmod(0o755)
    done, calls = machine(*PACKAGES)
    assert done.returncode == 0, done.stderr
    assert [call.rsplit("policy=", 1)[1] for call in calls] == ["0", "0"]
    assert machine.policy.read_text() == KEPT_POLICY


@pytest.mark.parametrize("failing", ["update", "install"])
def test_a_failed_apt_get_fails_the_script_and_removes_the_policy(machine, failing):
    done, calls = machine(*PACKAGES, APT_FAIL_ON=failing)
    assert done.returncode == 100
    assert len(calls) == (1 if failing == "update" else 2)
    assert not machine.policy.exists()


def test_terminated_mid_install_it_still_removes_the_policy(machine):
    done, calls = machine(*PACKAGES, APT_SIGNAL_ON="install")
    assert done.returncode == 128 + signal.SIGTERM
    assert len(calls) == 2 and calls[1].endswith("policy=101")
    assert not machine.policy.exists()


def test_not_root_it_does_each_step_through_sudo(machine):
    done, calls = machine(*PACKAGES, not_root=True)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "sudo tee",
        "sudo chmod",
        "sudo apt-get",
        "apt-get update -q | frontend=unset | policy=101",
        "sudo env",
        f"{INSTALL} | frontend=noninteractive | policy=101",
        "sudo rm",
    ]
    assert not machine.policy.exists()
