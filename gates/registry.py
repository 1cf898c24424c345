"""The image registry's HTTP API (Docker Registry v2 / OCI distribution), as the pipeline uses it.

A registry is named as in config: ``HOST[:PORT][/NAMESPACE]``. One on a loopback address is
spoken to over plain HTTP (Docker itself allows that for 127.0.0.0/8 without configuration);
any other over HTTPS. A registry that answers 401 is asked again with the credentials of
``$REGISTRY_USERNAME`` and ``$REGISTRY_PASSWORD``, else those ``gates engine login`` stored in
the docker CLI's configuration (the workflow gives the password to the login step only), as
its challenge says: ``Basic`` (docker-registry with htpasswd), or ``Bearer``
through its token service (anonymous when they are unset). Still 401: reported as such.
Over HTTPS it trusts what Docker trusts for the registry: the system's CAs and its own CA in
``/etc/docker/certs.d/<host:port>/ca.crt`` when there is one (e.g. the namespaced swarm's).
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from gates import httpget
from gates.outcome import MeasurementError

# The registry's credentials: the user's name and password.
CREDENTIALS_ENV = ("REGISTRY_USERNAME", "REGISTRY_PASSWORD")
CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
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
        headers = {"Accept": MANIFEST_TYPES}
        answer = self._fetch(method, path, self.base_url, headers)
        if answer[0] == 401:
            authorization = self._authorization(answer[1].get("www-authenticate", ""))
            if authorization:
                answer = self._fetch(
                    method, path, self.base_url, {**headers, "Authorization": authorization}
                )
        return answer

    def _fetch(
        self, method: str, path: str, base_url: str, headers: dict[str, str]
    ) -> httpget.Response:
        try:
            return httpget.fetch(
                path,
                base_url,
                timeout=TIMEOUT,
                method=method,
                headers=headers,
                context=None if self.loopback else docker_trust(self.host),
            )
        except httpget.FAILURES as exc:
            raise MeasurementError(
                f"the image registry {self.host} does not answer ({method} {path}: {exc})"
            ) from None

    def _authorization(self, challenge: str) -> str | None:
        """The Authorization header that answers a 401's challenge, or None when there is none
        to give (no credentials for Basic, no token from the token service)."""
        scheme = challenge.split(" ", 1)[0].lower()
        basic = basic_credentials(os.environ) or stored_credentials(self.host, os.environ)
        if scheme == "basic":
            return basic
        params = dict(CHALLENGE.findall(challenge))
        realm = urlsplit(params.pop("realm", ""))
        if scheme != "bearer" or realm.scheme not in ("http", "https"):
            return None
        query = "&".join(filter(None, [realm.query, urlencode(params)]))
        status, _, body = self._fetch(
            "GET",
            f"{realm.path or '/'}?{query}",
            f"{realm.scheme}://{realm.netloc}",
            {"Authorization": basic} if basic else {},
        )
        try:
            answer = json.loads(body) if status == 200 else {}
        except ValueError:
            return None
        token = (
            answer.get("token") or answer.get("access_token") if isinstance(answer, dict) else ""
        )
        return f"Bearer {token}" if isinstance(token, str) and token else None

    def answers(self) -> str | None:
        """None when the registry serves the v2 API; else why not, in one line."""
        try:
            status = self._request("GET", "/v2/")[0]
        except MeasurementError as exc:
            return str(exc)
        if status == 401:
            return (
                f"the image registry {self.host} answered GET /v2/ with 401: it wants "
                f"credentials (${', $'.join(CREDENTIALS_ENV)}) and was given none it accepts"
            )
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


def basic_credentials(environ: Mapping[str, str]) -> str | None:
    """``Basic <user:password>`` from $REGISTRY_USERNAME and $REGISTRY_PASSWORD; None unless
    both are set."""
    username, password = (environ.get(name, "") for name in CREDENTIALS_ENV)
    if not (username and password):
        return None
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def stored_credentials(host: str, environ: Mapping[str, str]) -> str | None:
    """``Basic ...`` as the docker CLI stored it for ``host`` (``docker login``, which ``gates
    engine login`` runs: the workflow gives the password to that step only); None when its
    configuration ($DOCKER_CONFIG, else ~/.docker) has none."""
    directory = Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        data = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError):
        return None
    auths = data.get("auths") if isinstance(data, dict) else None
    entry = auths.get(host) if isinstance(auths, dict) else None
    auth = entry.get("auth") if isinstance(entry, dict) else None
    return f"Basic {auth}" if isinstance(auth, str) and auth else None


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
