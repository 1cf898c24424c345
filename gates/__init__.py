"""The delivery pipeline's gates: one command per stage, each measuring something real.

Exit codes everywhere: 0 passed, 1 the release failed the gate, 2 usage or configuration
error, 3 the gate could not measure.
"""
