"""The security gate: bandit over the code, safety over the locked runtime dependencies, and
one fail-closed evaluator that judges both against the policy in the config."""
