"""The failure drill: inject a bad config under load, detect it (SLO gate, Prometheus or its
burn-rate alert), roll back, and record how long each step took."""
