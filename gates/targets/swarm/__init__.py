"""The swarm target: a Docker Swarm service per environment behind its own HAProxy edge, its
history kept in the engine. Built from small pieces:

target       SwarmTarget: the Target protocol for Docker Swarm
deployer     one deploy: image check, edge, service update, outcome, sustained verification
converge     settling an interrupted command (kill -9 mid-update)
service      the service's spec and rollout policy, its UpdateStatus, its tasks, failure reasons
edge         the environment's overlay network and HAProxy edge, published on its URL
image        the release's image reference by digest, pulled by the engine before a deploy
ledger       EngineLedger: gates.ledger over a copy rebuilt from, and written through to, the engine
history      append-only records in the engine (Docker configs)
lock         the environment's lock in the engine (a Docker config), with owner and expiry
environment  settings and the names of the environment's objects
docker       the docker CLI against the configured engine, one line on failure
"""
