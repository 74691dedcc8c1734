"""Loopback addresses for the tests' servers on fixed ports: one /24 per test worker.

An emulated Chromecast listens on port 8009 of an address of its own, as a
real one does. Tests run in parallel (pytest-xdist), so each worker takes its
devices from a /24 of its own in 127.0.0.0/8: worker gw0 from 127.0.0.x (and a
run without workers too), gw1 from 127.0.1.x, and so on.
"""

from __future__ import annotations

import os

_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def loopback(host: int) -> str:
    """This worker's address ending in host (2-254)."""
    return f"127.0.{_WORKER}.{host}"
