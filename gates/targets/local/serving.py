"""Whether an environment serves a deployment through its real port: the check after a
cutover (or a first start) that decides whether the ledger may say succeeded.

For at least ``sustain`` seconds (``[tool.pipeline.deploy] verify_seconds``, 2 by default) and
:data:`ANSWERS` answers (a busy machine answers fewer in the same time), requests go to the
environment's port one after the other, alternating /health and /ready. Every answer must come
within ``answer_timeout`` seconds (``[tool.pipeline.deploy] answer_timeout``, 5 by default),
from the deployment (its ``X-Deployment-ID``), keeping the service's contract
(gates.targets.contract), and every worker of the deployment's master must
have answered (``X-Worker-PID``). The first answer that breaks any of this ends the check with
the reason, as does the master exiting or one of its workers; so does the overall deadline.
"""

import time
from collections import Counter
from dataclasses import dataclass

from gates import httpget
from gates.targets.contract import Expected, check_health, check_ready
from gates.targets.local.masters import Master
from gates.targets.probe import DEPLOYMENT_HEADER, WORKER_HEADER

ANSWERS = 20  # good answers before a deployment counts as serving, over ``sustain`` seconds
CHECKS = (("GET /health", "/health", check_health), ("GET /ready", "/ready", check_ready))


class NotServing(Exception):
    """The deployment does not serve through the port; the message says how."""


@dataclass(frozen=True)
class Served:
    answers: int
    seconds: float
    workers: int

    def __str__(self) -> str:
        return (
            f"{self.answers} answers in {self.seconds:.1f} s, every one from the new "
            f"deployment and within its contract, from all {self.workers} workers"
        )


def verify(
    port: int,
    master: Master,
    expected: Expected,
    deadline: float,
    sustain: float,
    answer_timeout: float,
    others_may_answer: bool = False,
) -> Served:
    """Check that ``master``'s deployment serves on ``port``; NotServing if it does not.

    ``deadline`` is a time.monotonic() value; ``sustain`` the seconds the check lasts at
    least; ``answer_timeout`` the seconds one answer may take. ``others_may_answer``: another
    deployment's workers still share the port (a master that ignores the handover's WINCH);
    their answers are skipped, not judged.
    """
    where = f"through 127.0.0.1:{port}"
    workers = set(master.workers())
    heard: Counter[int] = Counter()
    started = time.monotonic()
    while True:
        for name, path, check in CHECKS:
            if not master.running():
                raise NotServing(f"the new master exited during the check {where}")
            timeout = max(min(answer_timeout, deadline - time.monotonic()), 0.1)
            try:
                response = httpget.fetch(path, port=port, timeout=timeout)
            except httpget.FAILURES as exc:
                raise NotServing(
                    f"{name} {where}: no answer within {timeout:.3g} s "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            headers = response[1]
            answered_by = headers.get(DEPLOYMENT_HEADER.lower(), "")
            if answered_by != master.deployment:
                if others_may_answer:
                    continue
                raise NotServing(
                    f"{name} {where} was answered by {answered_by or 'an unnamed deployment'}, "
                    f"not {master.deployment}"
                )
            problems = check(expected, response)
            if problems:
                raise NotServing(f"{name} {where}: " + "; ".join(problems))
            worker = headers.get(WORKER_HEADER.lower(), "")
            heard[int(worker) if worker.isdigit() else 0] += 1
        now = set(master.workers())
        if now != workers:
            raise NotServing(
                f"workers {sorted(workers - now)} of the new master exited during the check {where}"
            )
        seconds = time.monotonic() - started
        if seconds >= sustain and sum(heard.values()) >= ANSWERS and workers <= set(heard):
            return Served(sum(heard.values()), seconds, len(workers))
        if time.monotonic() >= deadline:
            silent = sorted(workers - set(heard))
            raise NotServing(f"workers {silent} never answered {where} in {seconds:.0f} s")
        time.sleep(0.02)
