"""The release's image as a swarm deploy runs it: by digest, pulled by the engine first.

The build stage pushes the release's image and records ``image.reference``
(``<registry>/<service>@sha256:<digest>``) and ``image.digest`` in the manifest;
gates.release.image.pinned_reference refuses a release without them, or whose reference does
not carry the recorded digest. Before a deploy touches the service, the engine pulls the
reference, which proves the registry is reachable from the engine and holds exactly that
content (the engine checks the digest of what it receives).
"""

from gates.docker import Docker, DockerRefused
from gates.outcome import COULD_NOT_MEASURE, GateError
from gates.targets.request import DeployFailed


class RegistryUnreachable(GateError):
    exit_code = COULD_NOT_MEASURE


def pull(docker: Docker, reference: str, timeout: float) -> None:
    """The engine pulls ``reference`` (by digest); DeployFailed when the registry has no such
    image, RegistryUnreachable (exit 3) when the engine cannot get it."""
    try:
        docker.run("image", "pull", "--quiet", reference, timeout=timeout)
    except DockerRefused as exc:
        if "manifest unknown" in exc.said or "not found" in exc.said:
            raise DeployFailed(f"the registry has no image {reference}: {exc.said}") from None
        raise RegistryUnreachable(f"cannot pull {reference}: {exc.said}") from None
