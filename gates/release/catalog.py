"""``gates release list|show|verify|install``: inspect and use built releases."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.outcome import PASSED
from gates.release import store
from gates.release.install import install

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from gates.config import PipelineConfig


def add_arguments(parser: ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="releases on disk, newest first")
    for name, text in (
        ("show", "print a release manifest readably"),
        ("verify", "re-hash every artifact against the manifest (exit 1 if anything changed)"),
        ("install", "verify, then install into a new virtualenv offline with hashes checked"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument(
            "release", help="release id, a unique prefix of it (4+ hex digits), or 'latest'"
        )
        if name == "show":
            action.add_argument("--json", action="store_true", help="print the raw manifest")
        if name == "install":
            action.add_argument("--venv", required=True, type=Path, help="virtualenv to create")


def run(config: PipelineConfig, args: Namespace) -> int:
    if args.action == "list":
        return list_releases(config)
    release_dir = store.resolve(config, args.release)
    if args.action == "verify":
        manifest = store.verify(release_dir)
        print(f"release {manifest['release_id']}: {len(manifest['artifacts'])} artifacts verified")
    elif args.action == "install":
        install(release_dir, args.venv.resolve())
        print(f"release {release_dir.name} installed into {args.venv}")
    else:
        manifest = store.load_manifest(release_dir)
        print(json.dumps(manifest, indent=2) if args.json else render(manifest, release_dir))
    return PASSED


def list_releases(config: PipelineConfig) -> int:
    base = store.releases_dir(config)
    manifests = [store.load_manifest(p) for p in store.release_dirs(config)]
    if not manifests:
        print(f"no releases in {base}; run `nox -s build`")
    for m in sorted(manifests, key=lambda m: m["build"]["time"], reverse=True):
        print(
            f"{m['release_id']}  {m['service']['name']} {m['service']['version']}  "
            f"commit {m['source']['commit'][:12]}  built {m['build']['time']}"
        )
    return PASSED


def render(manifest: Mapping[str, Any], release_dir: Path) -> str:
    service, src, build = manifest["service"], manifest["source"], manifest["build"]
    image = manifest.get("image") or {}
    lines = [
        f"release     {manifest['release_id']}  ({release_dir})",
        f"service     {service['name']} {service['version']}",
        f"commit      {src['commit']}  ({src['commit_time']})",
        f"built       {build['time']} by {build['builder']['user']}@{build['builder']['host']}"
        f" (Python {build['builder']['python']})",
        "image       "
        + (
            f"{image.get('tag')} {image.get('id')}"
            if image.get("built")
            else f"not built: {image.get('reason') or image.get('error')}"
        ),
        f"sbom        {manifest['sbom']['path']}",
        f"slo rules   {(manifest.get('slo_rules') or {}).get('path', 'none (built before them)')}",
        f"security    {_security_line(manifest)}",
        f"dependencies ({len(manifest['dependencies'])})",
        *(f"  {d['name']}=={d['version']}" for d in manifest["dependencies"]),
        f"artifacts ({len(manifest['artifacts'])})",
        *(
            f"  {a['sha256'][:16]}  {a['size']:>9}  {a['kind']:<16}  {a['path']}"
            for a in manifest["artifacts"]
        ),
    ]
    return "\n".join(lines)


def _security_line(manifest: Mapping[str, Any]) -> str:
    security = manifest.get("security")
    if not isinstance(security, dict):
        return "no record (built before the gate recorded one)"
    if not security.get("report"):
        return f"none: {security.get('reason', '?')}"
    return (
        f"{security['outcome']} ({Path(str(security['report'])).name}, sha256 "
        f"{str(security['sha256'])[:16]}, commit {str(security['commit'])[:12]})"
    )
