"""Run the renderer below Home Assistant's priority, so it never starves the event loop.

Starting a page makes Chromium busy on every core for a moment; at equal
priority Home Assistant's event loop then waits for a CPU, and actions and
webhooks answer late. A nice value of 10 gives Home Assistant the CPU first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        names[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = names[child]
            stack.append(child)
    return found


def lower_priority_of_children(names: tuple[str, ...]) -> None:
    """Lower every descendant of this process whose command name starts with one of names.

    Chromium's zygotes and browser process are lowered right after launch, so
    the renderers they fork later inherit the priority.
    """
    for pid, name in descendants(os.getpid()).items():
        if name.startswith(names):
            lower_priority(pid)
