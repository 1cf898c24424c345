"""Free loopback ports for the servers tests start.

``free_port()`` returns a port nothing listens on, never the same one twice in one process, and
never one another xdist worker can return: each worker draws from its own share of ``PORTS``.
"""

import os
import random
import socket

# Below the kernel's ephemeral range (32768 and up on Linux, 49152 and up on macOS), so no
# client connection can take one between choosing and binding it.
PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:])
    share = len(PORTS) // workers
    first = PORTS.start + worker * share
    start = random.randrange(share)
    for offset in range(share):
        port = first + (start + offset) % share
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {first}-{first + share - 1}")
