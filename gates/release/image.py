"""The release's container image: built FROM the configured base, pushed, known by digest.

``build_release_image`` builds the image from the release directory with ``--build-arg
BASE=<[tool.pipeline.build] base_image>``. With ``[tool.pipeline.engine] registry`` set it
pushes the image as ``<registry>/<service>:<release id>`` and records, for the manifest,
``reference = <registry>/<service>@sha256:...`` and ``digest``: the digest the registry
itself serves for that tag, which must equal the one the engine recorded for the push.
Deploys use the reference, never the tag.

The engine is the one ``[tool.pipeline.build] container_engine`` names, never guessed (a
runner that ships podman beside docker must not build with podman): ``docker`` or ``podman``,
both driven by the same client (gates.docker), or ``none``: the build says so in one line and
goes on without an image (laptops rehearse on the local target). A named engine that does not
answer, or a registry that does not, is exit 3 in one line; on a GitHub runner, a registry on
its loopback is refused first (exit 2, gates.config.placement).

``pinned_reference`` is the one check of a manifest's image: its reference must be by digest,
in a registry, and that digest must be the manifest's. ``verify_image`` adds what the registry
says: the image must be in the configured registry, which must serve exactly that digest.
Anything else refuses the release (exit 1). A target calls one of them before it deploys an
image (the swarm target the first, then has the engine pull the reference by digest).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gates.config.placement import refuse_loopback_registry
from gates.docker import Docker, DockerRefused
from gates.outcome import FAILED, GateError, MeasurementError
from gates.registry import Registry, split_reference

if TYPE_CHECKING:
    from gates.config import PipelineConfig
    from gates.report import Report

# The clients a build may use: the same commands.
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
    named = config.build.container_engine
    if named != "none" and config.engine.registry:
        refuse_loopback_registry(config.engine.registry, os.environ)
    docker, why_not = find_engine(named, config.engine.docker_host)
    if docker is None:
        if named in CLIENTS:
            raise MeasurementError(f"the container engine ({named}) does not answer: {why_not}")
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


def find_engine(named: str, host: str = "") -> Found:
    """(the client of the engine ``named``, None) when it answers, or (None, why not);
    ``host`` is the engine the client is aimed at ([tool.pipeline.engine] docker_host)."""
    if named == "none":
        return None, "container builds are disabled ([tool.pipeline.build] container_engine)"
    if shutil.which(named) is None:
        return None, f"{named}: not installed"
    docker = Docker(host, named)
    answered, why = docker.ask("info")
    if answered is not None:
        return docker, None
    return None, f"{named}: {why or 'info failed'}"


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
