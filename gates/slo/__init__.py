"""Service level objectives: the objectives file (OpenSLO), the evidence a window gives (counts,
bounds), the SLO gate that judges a live environment by its metrics or its Prometheus, and the
Prometheus rules (recording and burn-rate alerts) generated from the same objectives."""
