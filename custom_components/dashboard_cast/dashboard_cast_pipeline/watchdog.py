"""What the pipeline watchdog counts and how often it may restart a part."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import time

import psutil

# A part may restart this often within the window; one more failure ends the session.
MAX_RESTARTS = 3
RESTART_WINDOW_SECONDS = 120.0
# The first restart is immediate (the stream must recover within seconds); later
# ones in the window wait longer, so a part that keeps failing does not spin.
RESTART_DELAYS = (0.0, 1.0, 2.0)


class RestartsExhaustedError(Exception):
    """A part failed again after its last allowed restart."""


class SlidingWindow:
    """Events of the last window seconds, at most limit of them."""

    def __init__(self, limit: int, window: float) -> None:
        """Allow limit events per window seconds."""
        self._limit = limit
        self._window = window
        self._times: deque[float] = deque()

    def full(self) -> bool:
        """Tell whether the window holds limit events now (the next one is refused)."""
        self._forget_old(time.monotonic())
        return len(self._times) >= self._limit

    def _forget_old(self, now: float) -> None:
        while self._times and now - self._times[0] >= self._window:
            self._times.popleft()

    def admit(self) -> int | None:
        """Record an event and return how many came before it in the window; None if full."""
        now = time.monotonic()
        self._forget_old(now)
        if len(self._times) >= self._limit:
            return None
        self._times.append(now)
        return len(self._times) - 1


class RestartBudget:
    """Restarts of one session's parts, within a sliding window."""

    def __init__(self, limit: int = MAX_RESTARTS, window: float = RESTART_WINDOW_SECONDS) -> None:
        """Allow limit restarts per window seconds."""
        self._restarts = SlidingWindow(limit, window)

    def next_delay(self) -> float:
        """Record a failure; return how long to wait before the restart, or raise."""
        earlier = self._restarts.admit()
        if earlier is None:
            raise RestartsExhaustedError
        return RESTART_DELAYS[min(earlier, len(RESTART_DELAYS) - 1)]


@dataclass(slots=True)
class PipelineStats:
    """One session's figures, kept across restarts of its parts (for diagnostics)."""

    frames_in: int = 0  # pictures of the page that changed (from renders or the screencast)
    fresh_frames_out: int = 0  # of those, frames the encoder received
    frames_out: int = 0  # frames of the stream's timeline, repeats included
    frames_encoded: int = 0  # of those, frames FFmpeg encoded
    segments_reused: int = 0  # still segments made again without FFmpeg
    restarts: int = 0
    last_error: str | None = None
    ffmpeg_cpu_seconds: float = 0.0  # of FFmpeg processes that already exited
    blocked_connections: int = 0  # the page's, refused by its egress policy
    last_blocked: str | None = None  # host:port

    def count_blocked(self, target: str) -> None:
        """The egress proxy refused a connection of the page to target (host:port)."""
        self.blocked_connections += 1
        self.last_blocked = target

    @property
    def dropped_frames(self) -> int:
        """Captured frames replaced by a newer one before the encoder took them."""
        return max(0, self.frames_in - self.fresh_frames_out)


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU time of a process so far; None once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return float(times.user + times.system)


def renderers_over(pids: list[int], limit_bytes: int) -> list[tuple[int, int]]:
    """Chromium renderer processes among pids using more than limit_bytes: (pid, bytes).

    Resident memory: what a page's scripts, images and buffers take together
    (a JavaScript heap limit misses array buffers and images).
    """
    found = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if "--type=renderer" not in process.cmdline():
                continue
            resident = int(process.memory_info().rss)
        except psutil.Error:
            continue
        if resident > limit_bytes:
            found.append((pid, resident))
    return found
