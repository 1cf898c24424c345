"""The release's image as a swarm deploy references it: by digest, and present in the registry.

The build stage pushes the release's image and records ``image.reference``
(``<registry>/<service>@sha256:<digest>``) and ``image.digest`` in the manifest. A release
without them, or whose reference does not carry the recorded digest, is refused: a tag can
move, a digest cannot. Before a deploy touches the service, the engine pulls the reference,
which proves the registry is reachable from the engine and holds exactly that content (the
engine checks the digest of what it receives).
"""

import re
from collections.abc import Mapping
from typing import Any

from gates.outcome import COULD_NOT_MEASURE, GateError
from gates.targets.request import DeployFailed
from gates.docker import Docker, DockerRefused

REFERENCE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*@sha256:([0-9a-f]{64})$")


class RegistryUnreachable(GateError):
    exit_code = COULD_NOT_MEASURE


def reference(manifest: Mapping[str, Any]) -> str:
    """The manifest's image reference by digest; DeployFailed when it has none."""
    rid = manifest.get("release_id", "?")
    image = manifest.get("image") or {}
    ref, digest = str(image.get("reference") or ""), str(image.get("digest") or "")
    if not ref:
        raise DeployFailed(
            f"release {rid} has no image in its manifest; a swarm environment deploys images: "
            "build it with a container engine and [tool.pipeline.engine] registry set"
        )
    found = REFERENCE.match(ref)
    if found is None:
        raise DeployFailed(
            f"release {rid}'s image {ref!r} is not a reference by digest "
            "(<registry>/<name>@sha256:<64 hex>); rebuild it"
        )
    if digest.removeprefix("sha256:") != found.group(1):
        raise DeployFailed(
            f"release {rid}'s image reference {ref} does not carry the manifest's digest "
            f"{digest or '(none)'}: refusing it"
        )
    return ref


def verified_reference(docker: Docker, manifest: Mapping[str, Any], timeout: float) -> str:
    """The reference, once the engine has pulled exactly that digest from the registry."""
    ref = reference(manifest)
    try:
        docker.run("image", "pull", "--quiet", ref, timeout=timeout)
    except DockerRefused as exc:
        line = exc.said
        if "manifest unknown" in line or "not found" in line:
            raise DeployFailed(f"the registry has no image {ref}: {line}") from None
        raise RegistryUnreachable(f"cannot pull {ref}: {line}") from None
    return ref
