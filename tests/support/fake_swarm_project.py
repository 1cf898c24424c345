"""A project whose staging is a swarm environment on a stand-in engine (support.fake_engine),
with releases whose images the engine knows, and the gates CLI run in-process against it."""

import hashlib
import json

import pytest

from gates.cli import main
from gates.config import load_config
from gates.release.store import release_id
from gates.targets.swarm.ledger import EngineLedger
from support.pipeline_project import make_project


def make_release(state, name, reference):
    """A release in the store whose manifest names ``reference`` by digest."""
    content = f"{name}==1.0 --hash=sha256:{'0' * 64}\n"
    artifact = {
        "path": "requirements.txt",
        "kind": "requirements",
        "sha256": hashlib.sha256(content.encode()).hexdigest(),
        "size": len(content),
    }
    rid = release_id([artifact])
    directory = state / "releases" / rid
    directory.mkdir(parents=True)
    (directory / "requirements.txt").write_text(content)
    manifest = {
        "release_id": rid,
        "service": {"name": "mini", "version": "1.0"},
        "source": {"commit": f"c-{name}", "commit_time": "2030-01-01T00:00:00+00:00"},
        "build": {"time": "2030-01-01T00:01:00+00:00"},
        "artifacts": [artifact],
        "image": {"reference": reference, "digest": reference.rsplit("@", 1)[1]},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return rid


class Project:
    def __init__(self, root, engine, capsys):
        self.root, self.engine, self.capsys = root, engine, capsys
        self.config = make_project(root)
        port = int(engine.url.rsplit(":", 1)[1])
        text = self.config.read_text().replace(
            "[tool.pipeline.environments.staging]\nport = 18101\n",
            f'[tool.pipeline.environments.staging]\nport = 18101\ntarget = "swarm"\n'
            f'url = "http://127.0.0.1:{port}"\n',
        )
        text += '\n[tool.pipeline.engine]\nedge_image = "edge@sha256:' + "e" * 64 + '"\n'
        text += "\n[tool.pipeline.deploy]\nlock_timeout = 1\ncutover_timeout = 5\n"
        self.config.write_text(text)
        self.releases, self.references = {}, {}
        self.state = root / "state"

    def release(self, name, behaviour="ok"):
        reference = f"127.0.0.1:15000/mini@sha256:{hashlib.sha256(name.encode()).hexdigest()}"
        self.engine.images[reference] = behaviour
        self.references[name] = reference
        self.releases[name] = make_release(self.state, name, reference)
        return self.releases[name]

    def gates(self, *args, state=None):
        state = state or self.state
        self.capsys.readouterr()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PIPELINE_STATE_DIR", str(state))
            code = main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def deploy(self, name, state=None):
        return self.gates("deploy", "--environment", "staging", "--release", self.releases[name],
                          state=state)  # fmt: skip

    def history(self, state=None):
        config = load_config(self.config, environ={"PIPELINE_STATE_DIR": str(state or self.state)})
        return EngineLedger.open_for(config)
