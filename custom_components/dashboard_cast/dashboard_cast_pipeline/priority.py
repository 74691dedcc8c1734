"""Run the renderer below Home Assistant's priority, so it never starves the event loop.

Starting a page makes Chromium busy on every core for a moment; at equal
priority Home Assistant's event loop then waits for a CPU, and actions and
webhooks answer late. A nice value of 10 gives Home Assistant the CPU first.

On Linux a nice value belongs to a thread, not to a process: setpriority() on
a process id changes only its first thread, and a new thread or child
inherits the value of the thread that made it. So Chromium is started from a
thread of ours that runs at the renderer's priority (run_lowered): every
process and thread it ever makes has it. A process started otherwise has each
of its threads lowered (lower_priority).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import concurrent.futures
import logging
import os
import threading

import psutil

_LOGGER = logging.getLogger(__name__)

RENDERER_NICE = 10
# A process's threads are listed again while new ones at a higher priority appear.
_THREAD_ROUNDS = 5


async def run_lowered[**P, T](function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call function in a thread of its own that runs at the renderer's priority.

    What function starts (a process, and everything that process starts) runs
    at that priority from its first instruction. The thread ends with the call.
    """
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        _lower_thread(threading.get_native_id())
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(function(*args, **kwargs))
        except BaseException as err:  # noqa: BLE001 - handed to the caller
            future.set_exception(err)

    threading.Thread(target=run, name="dashboard_cast lowered start", daemon=True).start()
    return await asyncio.wrap_future(future)


def lower_priority(pid: int) -> None:
    """Give a process, every thread of it, the renderer's priority; it may already be gone.

    Its first thread goes first, so that the threads it makes from then on
    inherit the priority; the threads already there are lowered one by one,
    again while a round finds one that was not.
    """
    _lower_thread(pid)
    for _ in range(_THREAD_ROUNDS):
        try:
            threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        except OSError:  # gone, or no /proc here
            return
        lowered = [tid for tid in threads if _lower_thread(tid)]
        if not lowered:  # every thread was already at the renderer's priority
            return


def _lower_thread(tid: int) -> bool:
    """Lower one thread to the renderer's priority; tell whether it was above it."""
    try:
        if os.getpriority(os.PRIO_PROCESS, tid) >= RENDERER_NICE:
            return False
        os.setpriority(os.PRIO_PROCESS, tid, RENDERER_NICE)
    except OSError as err:  # gone, or not ours to change
        _LOGGER.debug("Could not lower the priority of thread %s: %s", tid, err)
        return False
    return True


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
    """Lower every thread of each descendant of this process named with one of names.

    Chromium starts lowered (run_lowered); this reaches Playwright's driver,
    which Playwright starts itself.
    """
    for pid, name in descendants(os.getpid()).items():
        if name.startswith(names):
            lower_priority(pid)
