"""The release's container image: built FROM the configured base, pushed, known by digest.

``build_release_image`` builds the image from the release directory with ``--build-arg
BASE=<[tool.pipeline.build] base_image>``. With ``[tool.pipeline.engine] registry`` set it
pushes the image as ``<registry>/<service>:<release id>`` and records, for the manifest,
``reference = <registry>/<service>@sha256:...`` and ``digest``: the digest the registry
itself serves for that tag, which must equal the one the engine recorded for the push.
Deploys use the reference, never the tag.

The engine is the first of ``docker`` and ``podman`` that answers (``container_engine =
"auto"``), or the one named; both are driven by the same client (gates.docker). No engine:
with ``auto`` the build says so in one line and goes on without an image (laptops rehearse on
the local target); an engine asked for by name that does not answer, or a registry that does
not, is exit 3 in one line.

``pinned_reference`` is the one check of a manifest's image: its reference must be by digest,
in a registry, and that digest must be the manifest's. ``verify_image`` adds what the registry
says: the image must be in the configured registry, which must serve exactly that digest.
Anything else refuses the release (exit 1). A target calls one of them before it deploys an
image (the swarm target the first, then has the engine pull the reference by digest).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.docker import Docker, DockerRefused
from gates.outcome import FAILED, GateError, MeasurementError
from gates.registry import Registry, split_reference

if TYPE_CHECKING:
    from gates.config import PipelineConfig
    from gates.report import Report

# The clients a build may use: the same commands, the first that answers when "auto".
CLIENTS = ("docker", "podman")
# An image reference by digest: <registry>/<name>@sha256:<64 hex>.
REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*@(sha256:[0-9a-f]{64})$")


class ImageRefused(GateError):
    """The release's image cannot be trusted to be the one the manifest names."""

    exit_code = FAILED


def build_release_image(
    config: PipelineConfig, release_dir: Path, rid: str, timeout: float, report: Report
) -> dict[str, object]:
    """Build (and push) the release's image; the facts the manifest records under ``image``."""
    preference = config.build.container_engine
    docker, why_not = find_engine(preference, config.engine.docker_host)
    if docker is None:
        if preference in CLIENTS:
            raise MeasurementError(
                f"the container engine ({preference}) does not answer: {why_not}"
            )
        print(f"gates build: no container engine, image not built ({why_not})")
        return {"built": False, "reason": why_not}
    registry = Registry.parse(config.engine.registry) if config.engine.registry else None
    if registry is not None and (why := registry.answers()):
        raise MeasurementError(f"{why}; the image cannot be pushed ({START_HINT})")
    base = config.build.base_image
    tag = registry.reference(config.service, rid) if registry else f"{config.service}:{rid}"
    print(f"gates build: building the container image {tag} FROM {base}", flush=True)
    image_id, error = build_image(docker, release_dir, tag, timeout, build_args=[f"BASE={base}"])
    facts: dict[str, object] = {
        "built": image_id is not None,
        "engine": docker.name,
        "base": base,
        "tag": tag,
        "id": image_id,
        "error": error,
    }
    if image_id is not None and registry is not None:
        facts.update(push(docker, registry, config.service, tag, timeout))
    report.add(
        "container image",
        image_id is not None,
        str(facts.get("reference") or image_id or f"build failed: {error}"),
        "image builds" + (f" and is pushed to {registry.address}" if registry else ""),
        f"Dockerfile, BASE={base}",
    )
    return facts


START_HINT = "start it with `nox -s engine -- up`"

# (the client of a working engine, None), or (None, why there is none)
Found = tuple[Docker, None] | tuple[None, str]


def find_engine(preference: str = "auto", host: str = "") -> Found:
    """(client, None) for a working engine, or (None, why there is none); ``host`` is the
    engine the clients are aimed at ([tool.pipeline.engine] docker_host)."""
    if preference == "none":
        return None, "container builds are disabled ([tool.pipeline.build] container_engine)"
    reasons: list[str] = []
    for client in CLIENTS if preference == "auto" else (preference,):
        if shutil.which(client) is None:
            reasons.append(f"{client}: not installed")
            continue
        docker = Docker(host, client)
        answered, why = docker.ask("info")
        if answered is not None:
            return docker, None
        reasons.append(f"{client}: {why or 'info failed'}")
    return None, "; ".join(reasons)


def build_image(
    docker: Docker, release_dir: Path, tag: str, timeout: float, build_args: Sequence[str] = ()
) -> tuple[str, None] | tuple[None, str]:
    """Build the image from the release directory; (image id, None) or (None, error).
    ``build_args`` are ``NAME=value`` pairs for the Dockerfile's ``ARG``s."""
    argv = ["build", "--file", str(release_dir / "Dockerfile"), "--tag", tag]
    argv += [a for pair in build_args for a in ("--build-arg", pair)]
    try:
        docker.run(*argv, str(release_dir), timeout=timeout, echo=True)
        return docker.run("image", "inspect", "--format", "{{.Id}}", tag).stdout.strip(), None
    except DockerRefused as exc:
        return None, exc.said


def push(
    docker: Docker, registry: Registry, service: str, tag: str, timeout: float
) -> dict[str, str]:
    """Push ``tag``; its digest as the registry serves it, and the reference by that digest."""
    print(f"gates build: pushing {tag}", flush=True)
    docker.run("push", tag, timeout=timeout)
    repository = registry.repository(service)
    served = registry.manifest_digest(repository, tag.rsplit(":", 1)[1])
    recorded = docker.run("image", "inspect", "--format", "{{json .RepoDigests}}", tag).stdout
    recorded = recorded.strip()
    prefix = f"{registry.host}/{repository}@"
    if served is None or f'"{prefix}{served}"' not in recorded:
        raise MeasurementError(
            f"the registry serves {tag} as {served or 'nothing'}, but the engine pushed "
            f"{recorded}; push again"
        )
    return {"registry": registry.address, "reference": prefix + served, "digest": served}


def pinned_reference(manifest: Mapping[str, Any]) -> str:
    """The manifest's image reference, checked against the manifest alone: a reference by
    digest, in a registry, carrying the digest the manifest records. ImageRefused (exit 1)
    otherwise: a tag can move, a digest cannot. What a target checks before it asks anything
    of a registry or an engine."""
    image = manifest.get("image") or {}
    reference, digest = image.get("reference"), image.get("digest")
    rid = manifest.get("release_id", "?")
    if not isinstance(reference, str) or not reference:
        raise ImageRefused(
            f"release {rid} has no image in a registry: no image in its manifest (built "
            "without an engine or without [tool.pipeline.engine] registry); build it again "
            "with both"
        )
    found = REFERENCE.match(reference)
    if found is None or not split_reference(reference)[0]:
        raise ImageRefused(
            f"image digest does not match the manifest: release {rid}'s image {reference!r} "
            "is not a reference by digest (<registry>/<name>@sha256:<64 hex>); rebuild it"
        )
    if digest != found.group(1):
        raise ImageRefused(
            f"image digest does not match the manifest: release {rid}'s image reference "
            f"{reference} does not carry the manifest's digest {digest or '(none)'}: refusing it"
        )
    return reference


def verify_image(config: PipelineConfig, manifest: Mapping[str, Any]) -> str:
    """The image reference (by digest) to deploy, after the registry confirmed that digest.

    ImageRefused (exit 1) when the release has no pushed image, its reference is not by the
    manifest's digest (``pinned_reference``), it is not in the configured registry, or the
    registry does not serve that digest; MeasurementError (exit 3) when the registry cannot
    be asked.
    """
    reference = pinned_reference(manifest)
    host, repository, digest = split_reference(reference)
    rid = manifest.get("release_id", "?")
    trusted = config.engine.registry
    if trusted and not reference.startswith(f"{trusted}/"):
        raise ImageRefused(
            f"image {reference} of release {rid} is not in the configured registry {trusted} "
            "([tool.pipeline.engine] registry)"
        )
    served = Registry(host).manifest_digest(repository, digest)
    if served is None:
        raise ImageRefused(f"image {reference} of release {rid} is not in the registry {host}")
    if served != digest:
        raise ImageRefused(
            f"image digest does not match the manifest: the registry {host} serves {served} "
            f"for {reference}"
        )
    return reference
