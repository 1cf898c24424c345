"""The image registry's HTTP API (Docker Registry v2 / OCI distribution), as the pipeline uses it.

A registry is named as in config: ``HOST[:PORT][/NAMESPACE]``. One on a loopback address is
spoken to over plain HTTP (Docker itself allows that for 127.0.0.0/8 without configuration);
any other over HTTPS, trusting what Docker trusts for it: the system's CAs and the registry's
own CA in ``/etc/docker/certs.d/<host:port>/ca.crt`` when there is one (a private registry's,
e.g. the namespaced swarm's, gates.engine.nodes). Only anonymous access: a registry that
wants credentials answers 401, which is reported as such.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from gates import httpget
from gates.outcome import MeasurementError

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
# Every manifest kind a push may leave: Docker schema 2, OCI, and their lists/indexes.
MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TIMEOUT = 10.0
CERTS_D = Path("/etc/docker/certs.d")  # per-registry CAs every dockerd on the host trusts


@dataclass(frozen=True)
class Registry:
    """``host`` (with its port) and ``namespace`` (repositories live under it; may be "")."""

    host: str
    namespace: str = ""

    @classmethod
    def parse(cls, address: str) -> Registry:
        host, _, namespace = address.partition("/")
        return cls(host, namespace)

    @property
    def hostname(self) -> str:
        return self.host.rsplit(":", 1)[0] if self.host.count(":") == 1 else self.host

    @property
    def port(self) -> int | None:
        _, colon, port = self.host.rpartition(":")
        return int(port) if colon and port.isdigit() else None

    @property
    def loopback(self) -> bool:
        return self.hostname in LOOPBACK or self.hostname.startswith("127.")

    @property
    def address(self) -> str:
        return f"{self.host}/{self.namespace}" if self.namespace else self.host

    def repository(self, name: str) -> str:
        """A repository's path in the registry: ``namespace/name``."""
        return f"{self.namespace}/{name}" if self.namespace else name

    def reference(self, name: str, tag_or_digest: str) -> str:
        """The image reference Docker uses: ``host/namespace/name:tag`` or ``...@sha256:...``."""
        separator = "@" if tag_or_digest.startswith("sha256:") else ":"
        return f"{self.host}/{self.repository(name)}{separator}{tag_or_digest}"

    @property
    def base_url(self) -> str:
        return f"{'http' if self.loopback else 'https'}://{self.host}"

    def _request(self, method: str, path: str) -> httpget.Response:
        try:
            return httpget.fetch(
                path,
                self.base_url,
                timeout=TIMEOUT,
                method=method,
                headers={"Accept": MANIFEST_TYPES},
                context=None if self.loopback else docker_trust(self.host),
            )
        except httpget.FAILURES as exc:
            raise MeasurementError(
                f"the image registry {self.host} does not answer ({method} {path}: {exc})"
            ) from None

    def answers(self) -> str | None:
        """None when the registry serves the v2 API; else why not, in one line."""
        try:
            status = self._request("GET", "/v2/")[0]
        except MeasurementError as exc:
            return str(exc)
        if status != 200:
            return f"the image registry {self.host} answered GET /v2/ with {status}"
        return None

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for ``repository`` at a tag or digest; None if absent.

        MeasurementError when it cannot tell (unreachable, refused, an answer without a digest).
        """
        path = f"/v2/{repository}/manifests/{reference}"
        status, headers, _ = self._request("HEAD", path)
        if status == 404:
            return None
        digest = headers.get("docker-content-digest", "")
        if status != 200 or not DIGEST.match(digest):
            raise MeasurementError(
                f"the image registry {self.host} answered HEAD {path} with {status} "
                f"and digest {digest or 'none'}"
            )
        return digest

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete one manifest by digest (the registry must allow deletes); True if it went."""
        return self._request("DELETE", f"/v2/{repository}/manifests/{digest}")[0] == 202


def docker_trust(host: str, certs_d: Path = CERTS_D) -> ssl.SSLContext:
    """The system's CAs plus the registry's own CA where Docker's daemon looks for it."""
    context = ssl.create_default_context()
    own = certs_d / host / "ca.crt"
    if own.is_file():
        context.load_verify_locations(cafile=str(own))
    return context


def split_reference(reference: str) -> tuple[str, str, str]:
    """(registry host or "", repository, tag or digest) of an image reference.

    The first path component is a registry host when it has a dot or a port, or is
    ``localhost`` (Docker's rule); the tag defaults to ``latest``.
    """
    name, at, digest = reference.partition("@")
    first, slash, rest = name.partition("/")
    host = first if slash and ("." in first or ":" in first or first == "localhost") else ""
    path = rest if host else name
    repository, colon, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
    return host, repository, (digest if at else (tag if colon else "latest"))
