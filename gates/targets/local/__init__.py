"""The local target: gunicorn on 127.0.0.1, built from small pieces.

target           LocalTarget: the Target protocol for gunicorn on 127.0.0.1
deployer         install, pre-flight and zero-failure cutover of one release
serving          the check through the port that decides whether a deploy succeeded
converge         finishing or undoing an interrupted command (matched by deployment)
environment      LocalEnvironment: name, settings, layout, lock (gates.locks) and masters
layout           the environment's directories and its ``current`` pointer
deployments      a release plus its service config on disk
deployment_conf  the gunicorn config each deployment gets (runs in the release's venv)
spawn            starting a gunicorn master
masters          the running masters, from the records they write (their identity and
                 signals: gates.processes)
"""
