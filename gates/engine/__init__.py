"""The container engine the swarm target and the image build stand on.

``docker`` runs the Docker CLI against ``[tool.pipeline.engine] docker_host``; the image
registry's HTTP API (v2) is ``gates.registry``, shared with the build stage and the swarm target.
Both say "could not measure" (exit 3) in one line when the engine or the registry does not
answer.

``gates engine check|up|down|status`` (``command``) makes such an engine on one machine from
Debian packages: a dockerd on a private socket (``daemon``), a registry on 127.0.0.1
(``registry_server``), a single-node swarm, and the base and edge images built without
Docker Hub (``images``). ``prerequisites`` names what must be installed first; ``record``
keeps what ``up`` started, so that ``down`` stops exactly that and nothing else.
"""
