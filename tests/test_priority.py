"""The renderer's priority reaches every thread of what it runs, and nothing of ours."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline.priority import (
    RENDERER_NICE,
    lower_priority,
    run_lowered,
)

from .media import thread_nice_values

# A process with a few threads of its own, ready once it says so.
THREADED = (
    "import threading, time\n"
    "for _ in range(3): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


async def started(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert await asyncio.to_thread(process.stdout.readline) == "ready\n"


def threaded_process() -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", THREADED], stdout=subprocess.PIPE, text=True
    )


async def test_a_process_started_lowered_has_every_thread_lowered() -> None:
    """Started by run_lowered, a process and each thread it makes run niced; we do not."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert ours < RENDERER_NICE, "run the tests above the renderer's priority"
    process = await run_lowered(threaded_process)
    try:
        await started(process)
        nice = thread_nice_values(process.pid)
        assert len(nice) == 4
        assert set(nice) == {RENDERER_NICE}
        assert os.getpriority(os.PRIO_PROCESS, 0) == ours
    finally:
        process.kill()
        process.wait()


async def test_lowering_a_running_process_reaches_its_threads() -> None:
    """A process started at our priority has each of its threads lowered, not just its first."""
    process = threaded_process()
    try:
        await started(process)
        assert set(thread_nice_values(process.pid)) == {os.getpriority(os.PRIO_PROCESS, 0)}
        lower_priority(process.pid)
        nice = thread_nice_values(process.pid)
        assert len(nice) == 4
        assert set(nice) == {RENDERER_NICE}
    finally:
        process.kill()
        process.wait()


async def test_run_lowered_hands_back_the_error() -> None:
    """A start that fails raises in the caller, as asyncio.to_thread would."""
    with pytest.raises(FileNotFoundError):
        await run_lowered(subprocess.Popen, ["/nonexistent/chromium"])
