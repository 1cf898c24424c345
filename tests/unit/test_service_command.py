"""``techcorp-api``'s gunicorn command line."""

from techcorp_api.serve import CONFIG, gunicorn_argv


def test_a_usr2_re_exec_does_not_add_the_config_again():
    """gunicorn re-executes a master with the argv it ended up with; each handover used to
    append another ``--config python:techcorp_api.gunicorn_conf`` (9 copies seen)."""
    argv = gunicorn_argv("techcorp-api", ["--config", "deployment.conf.py"])
    for _handover in range(3):
        argv = gunicorn_argv(argv[0], argv[1:])
    assert argv == ["techcorp-api", "--config", CONFIG, "--config", "deployment.conf.py"]
