"""Checks of the repository itself: its configuration (``gates config``), lint (with the
workflow policy), the test suites, and the one coverage decision over all of them."""
