"""``gates build``: a reproducible, content-addressed release of the service.

From a clean export of one commit: check the lock, build the wheel twice and compare, collect
every locked dependency as hash-checked wheels, install the result into a fresh virtualenv to
prove it works offline, write the SBOM and the manifest, and build the container image when
an engine is available. The release is assembled outside the store (gates.release.build_area)
and published, into ``<state_dir>/releases/<release id>/`` with ``latest`` pointing at it,
only when every check passed: a failed, crashed or killed build publishes nothing.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import shutil
import sys
import zipfile
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from gates.ledger import Ledger
from gates.outcome import PASSED, MeasurementError
from gates.release import source
from gates.release.build_area import build_area
from gates.release.image import build_release_image
from gates.release.source import Commit
from gates.release.install import install
from gates.release.store import (
    LATEST,
    MANIFEST,
    Artifact,
    Manifest,
    describe_artifact,
    load_manifest,
    release_id,
    releases_dir,
    sha256_file,
    verify,
)
from gates.report import Report
from gates.release.locked_requirements import digest, export_command, pins
from gates.slo.rules import RULES_FILE, write_release_rules
from gates.tools import ToolRun, executable, run_tool, uv_binary

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig


def add_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("--ref", default="HEAD", help="the commit to build (default: HEAD)")


def run(config: PipelineConfig, report: Report, args: Namespace) -> None:
    commit = source.head_commit(config.root, args.ref)
    if commit.dirty:
        print(
            f"gates build: note: the working tree has uncommitted changes; they are not in "
            f"this release, which is built from commit {commit.sha[:12]} only"
        )
    with build_area(config.state_dir, config.build.timeout) as work:
        Build(config, report, commit, work).run()


def step_outputs(rid: str, image: Mapping[str, object]) -> str:
    """The build step's outputs (``$GITHUB_OUTPUT`` lines): the release id, and the image's
    name and digest when it was pushed to a registry (what the attest job attests)."""
    lines = [f"release_id={rid}"]
    reference = str(image.get("reference") or "")
    if "@" in reference:
        name, digest = reference.split("@", 1)
        lines += [f"image_name={name}", f"image_digest={digest}"]
    return "\n".join(lines) + "\n"


class Build:
    def __init__(self, config: PipelineConfig, report: Report, commit: Commit, work: Path) -> None:
        self.config, self.report, self.commit, self.work = config, report, commit, work
        self.timeout = config.build.timeout
        self.stage = work / "release"
        self.wheelhouse = self.stage / "wheelhouse"
        self.env = {**os.environ, "SOURCE_DATE_EPOCH": str(commit.epoch)}

    def step(self, message: str) -> None:
        print(f"gates build: {message}", flush=True)

    def tool(
        self, name: str, argv: list[str], cwd: Path, env: Mapping[str, str] | None = None
    ) -> ToolRun:
        result = run_tool(name, argv, cwd, echo=False, timeout=self.timeout, env=env or self.env)
        if result.returncode != 0:
            raise MeasurementError(f"{name} failed (exit {result.returncode}): {result.tail(1)}")
        return result

    def run(self) -> None:
        self.step(f"exporting commit {self.commit.sha[:12]} ({self.commit.time})")
        tree = source.export_tree(self.config.root, self.commit, self.work / "src")
        if not self.lock_matches(tree):
            return
        self.step("building the service wheel twice from two clean exports")
        wheel = self.build_wheel(tree, self.work / "first")
        again = self.build_wheel(
            source.export_tree(self.config.root, self.commit, self.work / "src2"),
            self.work / "second",
        )
        same = sha256_file(wheel) == sha256_file(again)
        self.report.add(
            "reproducible wheel",
            same,
            f"{wheel.name}: {sha256_file(wheel)[:16]} vs {sha256_file(again)[:16]}",
            "identical sha256 from two clean builds",
            f"commit {self.commit.sha[:12]}, SOURCE_DATE_EPOCH={self.commit.epoch}",
        )
        self.check_wheel_contents(wheel)
        if not same:
            return
        self.wheelhouse.mkdir(parents=True)
        wheel = Path(shutil.copy2(wheel, self.wheelhouse))
        dependencies = self.collect_dependencies(tree, wheel)
        shutil.copy2(tree / self.config.service_dir.name / "Dockerfile", self.stage / "Dockerfile")
        # The Prometheus rules for this commit's objectives ship with the code they watch.
        write_release_rules(self.config, tree, self.stage)
        sbom_components = self.install_and_describe(tree)
        if sbom_components is None:
            return
        artifacts = self.artifacts(wheel)
        rid = release_id(artifacts)
        image = self.container_image(rid)
        manifest = self.manifest(rid, wheel, artifacts, dependencies, image)
        (self.stage / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if self.report.exit_code != PASSED:
            failed = [check.name for check in self.report.checks if not check.passed]
            self.step(f"release {rid} not published: failed {', '.join(failed)}")
            return
        final = self.publish(rid)
        self.report.add(
            "release",
            True,
            f"{rid}: {len(artifacts)} artifacts, {len(dependencies)} dependencies, "
            f"SBOM of {sbom_components} components",
            "all artifacts digested and verified",
            str(final),
        )
        self.report.details.update(release_id=rid, release_dir=str(final), manifest=manifest)
        if os.environ.get("GITHUB_OUTPUT"):
            # Later jobs deploy exactly this release, and attest it and its image by digest.
            with open(os.environ["GITHUB_OUTPUT"], "a") as handle:
                handle.write(step_outputs(rid, image))

    def lock_matches(self, tree: Path) -> bool:
        uv = uv_binary()
        checked = run_tool(
            "uv lock --check",
            [uv, "lock", "--check", "--offline", "--quiet"],
            tree,
            echo=False,
            timeout=self.timeout,
        )
        self.report.add(
            "lock",
            checked.returncode == 0,
            (
                "uv.lock matches the declared dependencies"
                if checked.returncode == 0
                else f"uv.lock is out of date: {checked.tail(1)}; run `nox -s lock` and commit it"
            ),
            "uv lock --check passes",
            "uv.lock",
        )
        return checked.returncode == 0

    def build_wheel(self, tree: Path, out_dir: Path) -> Path:
        argv = [uv_binary(), "build", "--quiet", "--wheel", "--package", self.config.service]
        self.tool("uv build", [*argv, "--out-dir", str(out_dir)], tree)
        wheels = list(out_dir.glob("*.whl"))
        if len(wheels) != 1:
            raise MeasurementError(f"uv build left {len(wheels)} wheels in {out_dir}, not 1")
        return wheels[0]

    def check_wheel_contents(self, wheel: Path) -> None:
        package = self.config.service.replace("-", "_")
        with zipfile.ZipFile(wheel) as archive:
            tops = {name.split("/", 1)[0] for name in archive.namelist()}
        foreign = sorted(t for t in tops if t != package and not t.endswith(".dist-info"))
        self.report.add(
            "wheel contents",
            not foreign,
            f"top-level entries: {', '.join(sorted(tops))}",
            f"only {package} and its metadata",
            wheel.name,
        )

    def collect_dependencies(self, tree: Path, wheel: Path) -> list[dict[str, str]]:
        self.step("collecting the locked dependencies as hash-checked wheels")
        locked = self.tool("uv export", export_command(self.config.service), tree).output
        self.locked_sha256 = digest(locked)
        deps_file = self.work / "locked.txt"
        deps_file.write_text(locked)
        self.tool(
            "pip download",
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--require-hashes",
                "-r",
                str(deps_file),
                "-d",
                str(self.wheelhouse),
            ],
            tree,
        )
        version = wheel.name.split("-")[1]
        service_line = (
            f"{self.config.service}=={version} \\\n    --hash=sha256:{sha256_file(wheel)}\n"
        )
        (self.stage / "requirements.txt").write_text(locked.rstrip("\n") + "\n" + service_line)
        return [{"name": n, "version": v} for n, v in pins(locked)]

    def install_and_describe(self, tree: Path) -> int | None:
        """Install the staged release offline into a new venv, import it, and write the SBOM."""
        self.step("installing the release offline into a fresh virtualenv")
        venv = self.work / "verify-venv"
        install(self.stage, venv, timeout=self.timeout, verify_first=False)
        python = str(venv / "bin" / "python")
        imported = run_tool(
            "import check",
            [python, "-c", "from techcorp_api import create_app; create_app()"],
            self.work,
            echo=False,
            timeout=self.timeout,
        )
        self.report.add(
            "offline install",
            imported.returncode == 0,
            (
                "installed with --no-index and hashes checked; app factory ran"
                if imported.returncode == 0
                else f"installed, but create_app() failed: {imported.tail(1)}"
            ),
            "installs and builds the app",
            "fresh virtualenv",
        )
        if imported.returncode != 0:
            return None
        sbom = self.stage / "sbom.cdx.json"
        self.tool(
            "cyclonedx-py",
            [
                executable("cyclonedx-py"),
                "environment",
                "--output-reproducible",
                "--pyproject",
                str(tree / self.config.service_dir.name / "pyproject.toml"),
                "--of",
                "JSON",
                "-o",
                str(sbom),
                python,
            ],
            self.work,
        )
        return len(json.loads(sbom.read_text()).get("components", []))

    def artifacts(self, wheel: Path) -> list[Artifact]:
        kinds = {"requirements.txt": "requirements", "Dockerfile": "dockerfile"}
        kinds["sbom.cdx.json"] = "sbom"
        kinds[RULES_FILE] = "slo-rules"
        found: list[Artifact] = []
        for path in sorted(self.stage.rglob("*")):
            if not path.is_file() or path.name == MANIFEST:
                continue
            if path.parent == self.wheelhouse and path.suffix == ".whl":
                kind = "service-wheel" if path.name == wheel.name else "dependency-wheel"
            elif path.name in kinds and path.parent == self.stage:
                kind = kinds[path.name]
            else:
                raise MeasurementError(f"unexpected file in the release: {path}")
            found.append(describe_artifact(self.stage, path, kind))
        return found

    def container_image(self, rid: str) -> dict[str, object]:
        return build_release_image(self.config, self.stage, rid, self.timeout, self.report)

    def manifest(
        self,
        rid: str,
        wheel: Path,
        artifacts: list[Artifact],
        dependencies: list[dict[str, str]],
        image: dict[str, object],
    ) -> Manifest:
        return {
            "schema": 1,
            "release_id": rid,
            "service": {"name": self.config.service, "version": wheel.name.split("-")[1]},
            "source": {
                "commit": self.commit.sha,
                "commit_time": self.commit.time,
                "worktree_dirty_at_build": self.commit.dirty,
            },
            "build": {
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source_date_epoch": self.commit.epoch,
                "builder": {
                    "host": platform.node(),
                    "user": getpass.getuser(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "tools": {name: metadata.version(name) for name in ("pip", "cyclonedx-bom")},
                },
            },
            "artifacts": artifacts,
            "dependencies": dependencies,
            "sbom": {"path": "sbom.cdx.json", "format": "CycloneDX JSON"},
            "slo_rules": {"path": RULES_FILE, "format": "Prometheus rule file (gates slo-rules)"},
            "security": self.security_record(),
            "image": image,
        }

    def security_record(self) -> dict[str, object]:
        """The security report of this very commit and these very pins, or why there is none.

        A report is recorded only when the gate scanned this commit from a clean tree and
        audited exactly the requirements this release locks; anything else is "none".
        """
        path = self.config.reports_dir / "security.json"
        reason = _security_mismatch(path, self.commit.sha, self.locked_sha256)
        if reason:
            self.step(f"the manifest records no security report: {reason}")
            return {"report": None, "reason": reason}
        data = json.loads(path.read_text(encoding="utf-8"))
        sarif = self.config.state_dir / "security" / "security.sarif"
        return {
            "report": str(path),
            "sha256": sha256_file(path),
            "outcome": data["outcome"],
            "finished_at": data.get("finished_at"),
            "commit": self.commit.sha,
            "requirements_sha256": self.locked_sha256,
            "sarif": {str(sarif): sha256_file(sarif)} if sarif.is_file() else None,
        }

    def publish(self, rid: str) -> Path:
        """Move the staged release into the store, then point ``latest`` at it.

        Both are single renames on one file system (os.replace), so whatever stops the build,
        the store has all of the release or none of it, and ``latest`` the old id or the new.
        """
        base = releases_dir(self.config)
        base.mkdir(parents=True, exist_ok=True)
        final = base / rid
        if final.exists():
            verify(final)
            self.step(f"release {rid} already exists with identical artifacts; kept it")
        else:
            os.replace(self.stage, final)
        verify(final)
        Ledger.open(self.config).record_build(load_manifest(final))
        pointer = self.work / LATEST
        pointer.write_text(rid + "\n")
        os.replace(pointer, base / LATEST)
        self.step(f"release {rid} is in {final}")
        return final


def _security_mismatch(path: Path, commit: str, requirements_sha256: str) -> str:
    """Why the security report at ``path`` does not speak for this build ("" when it does)."""
    if not path.is_file():
        return f"{path} does not exist (run the security stage first)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        details = data["details"]
        scanned, dirty = details["commit"], details["worktree_dirty"]
        audited = details["requirements_sha256"]
        outcome = data["outcome"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"{path} is unreadable or not a security report of this version ({exc!r})"
    if scanned != commit:
        return f"it is of commit {str(scanned)[:12]}, this build is of {commit[:12]}"
    if dirty:
        return "it scanned a working tree with uncommitted changes"
    if audited != requirements_sha256:
        return "it audited other requirements than this release locks"
    if not isinstance(outcome, str):
        return f"{path} has no outcome"
    return ""
