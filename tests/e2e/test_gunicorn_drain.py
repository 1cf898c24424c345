"""A stopping worker and the kept-alive connections it holds (techcorp_api.worker).

A deploy's handover stops the old workers with SIGTERM, as here. A client that paused less
than the keep-alive timeout must still be answered on its connection (with
``Connection: close``, so that it connects again), and the worker must still exit once its
idle connections reach their keep-alive deadline.
"""

import http.client
import os
import signal
import time

import psutil

from support.timeouts import HANG

KEEPALIVE = 5  # seconds, techcorp_api.gunicorn_conf.keepalive
PAUSE = 3.0  # a client's pause: past gunicorn's 2 s stop linger, within the keep-alive


def kept_alive(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG)
    connection.request("GET", "/api/data")
    response = connection.getresponse()
    response.read()
    assert (response.status, response.will_close) == (200, False)
    return connection


def test_a_stopping_worker_answers_a_client_that_paused_then_exits(gunicorn_server):
    server = gunicorn_server("--workers", "1")
    port = int(server.base_url.rsplit(":", 1)[1])
    (worker,) = psutil.Process(server.pid).children()
    paused, idle = kept_alive(port), kept_alive(port)

    os.kill(worker.pid, signal.SIGTERM)  # what the handover's WINCH does to each old worker
    time.sleep(PAUSE)  # the client's pause between two requests, not a wait for the server
    paused.request("GET", "/api/data")
    response = paused.getresponse()
    response.read()
    assert (response.status, response.getheader("Connection")) == (200, "close")
    assert response.getheader("X-Worker-PID") in (None, str(worker.pid))

    # The idle connection is closed at its keep-alive deadline and the worker exits: a
    # drain is bounded by the keep-alive timeout, whatever the clients do.
    worker.wait(timeout=KEEPALIVE + HANG)
    idle.sock.settimeout(HANG)
    assert idle.sock.recv(1) == b""
    paused.close()
    idle.close()
