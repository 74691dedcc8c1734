"""Run the renderer below Home Assistant's priority, so it never starves the event loop.

Starting a page makes Chromium busy on every core for a moment; at equal
priority Home Assistant's event loop then waits for a CPU, and actions and
webhooks answer late. A nice value of 10 gives Home Assistant the CPU first.
"""

from __future__ import annotations

import logging
import os

import psutil

_LOGGER = logging.getLogger(__name__)

RENDERER_NICE = 10


def lower_priority(pid: int) -> None:
    """Give one process the renderer's priority; it may already be gone."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, RENDERER_NICE)
    except OSError as err:
        _LOGGER.debug("Could not lower the priority of process %s: %s", pid, err)


def descendants(pid: int) -> dict[int, str]:
    """Every living descendant process of pid, with its command name."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:  # pid is gone
        return {}
    found: dict[int, str] = {}
    for child in children:
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found[child.pid] = child.name()
        except psutil.Error:  # gone meanwhile
            continue
    return found


def lower_priority_of_children(names: tuple[str, ...]) -> None:
    """Lower every descendant of this process whose command name starts with one of names.

    Chromium's zygotes and browser process are lowered right after launch, so
    the renderers they fork later inherit the priority.
    """
    for pid, name in descendants(os.getpid()).items():
        if name.startswith(names):
            lower_priority(pid)
