"""Local environments: real gunicorn servers on 127.0.0.1, deployed without dropping requests."""
