"""Performance: the open-loop load generator, the perf gate (latency percentiles corrected for
coordinated omission, thresholds, regression against earlier releases), its statistics and its
chart."""
