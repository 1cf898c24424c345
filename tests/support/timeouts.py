"""Bounds on hangs, generous enough for a machine busy with other work; never latency limits."""

# A server started by a test answers /ready within this many seconds.
START_TIMEOUT = 60.0
# A server asked to stop has exited within this many seconds (then it is killed).
STOP_TIMEOUT = 30.0
# One HTTP request, or one wait for a log line, takes at most this many seconds.
HANG = 10.0
# One gates command (a release build is the slowest) finishes within this many seconds.
GATES_TIMEOUT = 600.0
