"""The container image, built when an engine is available; said so in one line when not."""

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from gates.tools import run_tool

# (the engine's binary, None), or (None, why there is none / what failed)
Found = tuple[str, None] | tuple[None, str]

ENGINES = ("docker", "podman")


def find_engine(preference: str = "auto", env: Mapping[str, str] | None = None) -> Found:
    """(engine, None) for a working engine, or (None, why there is none); ``env`` is the
    clients' environment (it names the engine: DOCKER_HOST)."""
    if preference == "none":
        return None, "container builds are disabled ([tool.pipeline.build] container_engine)"
    reasons: list[str] = []
    for engine in ENGINES if preference == "auto" else (preference,):
        binary = shutil.which(engine)
        if binary is None:
            reasons.append(f"{engine}: not installed")
            continue
        probe = run_tool(engine, [binary, "info"], cwd=".", echo=False, timeout=30, env=env)
        if probe.returncode == 0:
            return binary, None
        reasons.append(f"{engine}: {probe.tail(1) or 'info failed'}")
    return None, "; ".join(reasons)


def build_image(
    engine: str,
    release_dir: Path,
    tag: str,
    timeout: float,
    build_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Found:
    """Build the image from the release directory; (image id, None) or (None, error).
    ``build_args`` are ``NAME=value`` pairs for the Dockerfile's ``ARG``s."""
    argv = [engine, "build", "--file", str(release_dir / "Dockerfile"), "--tag", tag]
    argv += [a for pair in build_args for a in ("--build-arg", pair)]
    built = run_tool(
        "container build", [*argv, str(release_dir)], release_dir, timeout=timeout, env=env
    )
    if built.returncode != 0:
        return None, built.tail(1)
    inspect = run_tool(
        "container inspect",
        [engine, "image", "inspect", "--format", "{{.Id}}", tag],
        release_dir,
        echo=False,
        timeout=60,
        env=env,
    )
    if inspect.returncode != 0:
        return None, inspect.tail(1)
    return inspect.output.strip(), None
