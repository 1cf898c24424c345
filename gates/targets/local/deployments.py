"""A deployment on disk: a release plus its service config, ready for gunicorn to run.

``deployments/<key>/deployment.json`` records what the deployment runs with (read back by
rollbacks, drills and the verification gates); ``gunicorn.conf.py`` is generated from it
(gates.targets.local.deployment_conf); ``venv`` links to the release's installed venv.
"""

import json
from pathlib import Path

from gates.targets.local import deployment_conf
from gates.targets.local.layout import Layout
from gates.targets.request import ServiceConfig

# Added to the service's environment by the pipeline, not part of its recorded config.
RELEASE_ID_VARIABLE = "RELEASE_ID"


def write(
    layout: Layout, environment: str, port: int, release_id: str, service: ServiceConfig
) -> Path:
    """Create (or refresh) the deployment's directory; its path."""
    key = service.deployment_key(release_id)
    directory = layout.deployment_dir(key)
    directory.mkdir(parents=True, exist_ok=True)
    venv_link = directory / "venv"
    if not venv_link.is_symlink():
        venv_link.symlink_to(Path("..") / ".." / "releases" / release_id / "venv")
    deployment = {
        "environment": environment,
        "release_id": release_id,
        "key": key,
        "port": port,
        "workers": service.workers,
        "env": {**service.env, RELEASE_ID_VARIABLE: release_id},
        "run_dir": str(layout.run_dir.resolve()),
        "log": str(layout.log_path(key).resolve()),
        "current": str(layout.root.resolve() / layout.current.name),
    }
    (directory / "gunicorn.conf.py").write_text(deployment_conf.render(deployment))
    (directory / "deployment.json").write_text(json.dumps(deployment, indent=2) + "\n")
    return directory


def recorded_service(layout: Layout, key: str) -> ServiceConfig | None:
    """The service config a deployment was written with; None when its directory is gone."""
    path = layout.deployment_dir(key) / "deployment.json"
    if not path.is_file():
        return None
    deployment = json.loads(path.read_text())
    service_env = {k: v for k, v in deployment["env"].items() if k != RELEASE_ID_VARIABLE}
    return ServiceConfig(service_env, deployment["workers"])
