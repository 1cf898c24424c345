"""The service's gunicorn worker: gthread, whose drain keeps the keep-alive promise.

A gthread worker told to stop (a deploy's handover, a restart) stops accepting connections,
answers a request that arrives on a kept-alive connection with ``Connection: close`` (the
client then connects again, to whichever worker still accepts), and exits once its
connections are closed. gunicorn 27 closes the *idle* kept-alive connections 2 s into the
stop (``STOP_KEEPALIVE_LINGER``), while in normal operation it keeps them ``keepalive``
seconds. A client that pauses longer than 2 s but less than the keep-alive timeout never
finds its connection closed in normal operation, yet finds it closed by a drain; a client
that does not check a kept connection before reusing it (``http.client``, many HTTP/1.1
clients) then loses that request (``RemoteDisconnected``).

``KeepAliveDrainWorker`` keeps each idle connection until its own keep-alive deadline (the
one it had before the stop, or ``keepalive`` seconds after an answer sent during it), so a
drain closes no connection earlier than normal operation would; a stop lasts at most
``keepalive`` seconds after the last answer. What remains is
HTTP/1.1's own race, the same as in normal operation: a request sent at the very moment the
server closes an idle connection is lost, and the client must retry it (docs/deploy.md).
"""

from typing import Any

from gunicorn.workers import gthread


class KeepAliveDrainWorker(gthread.ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        super().check_config(cfg, log)
        if not hasattr(gthread, "STOP_KEEPALIVE_LINGER"):
            log.warning(
                "this gunicorn's gthread worker has no stop linger to extend: a stopping "
                "worker may close kept-alive connections at once (gunicorn >= 27 keeps them)"
            )

    def init_process(self) -> None:
        # gthread caps the deadline of every kept-alive connection at this many seconds
        # from the stop (in run(), and in finish_request() for an answer whose connection
        # returns to the poller after the stop). Each worker is its own process: setting
        # the module's value here changes this worker only.
        gthread.STOP_KEEPALIVE_LINGER = self.cfg.keepalive
        super().init_process()
