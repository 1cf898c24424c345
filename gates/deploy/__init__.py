"""The stages that put releases into environments: ``gates deploy`` (rollout.py), ``gates
rollback`` (rollback.py), ``gates status`` and ``gates down`` (operations.py).

They decide *what* goes where (the release, the promotion policy, the last good release),
build a :class:`~gates.targets.request.DeployRequest` and act through
``gates.targets.target_for``; *how* a release goes live is the target's business
(gates.targets).
"""
