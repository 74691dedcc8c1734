"""Capture a page with the DevTools screencast, at most at the stream's frame rate.

Two ways, by what the browser offers:

- ScreencastCapture: Chromium renders at display rate (60 frames/s) and the
  screencast sends a frame when the page changed, held to the output rate.
  Any browser does this.
- FrameClockCapture: the headless shell under begin-frame control renders only
  when the encoder's clock asks (tick()), at the output rate; the screencast
  still sends a frame only when that render changed something. A page that
  moves costs 5 renders a second instead of 60.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import TYPE_CHECKING, Any, override

from .watchdog import PipelineStats

if TYPE_CHECKING:
    from playwright.async_api import CDPSession, Page

_LOGGER = logging.getLogger(__name__)

JPEG_QUALITY = 85


class ScreencastCapture:
    """Keep the latest JPEG frame of a page.

    The screencast is damage-driven: Chromium sends a frame only when the page
    changed, so a static dashboard costs almost nothing. Chromium sends the next
    frame only after the previous one is acknowledged; delaying the ack to one
    frame interval caps capture at the output rate, which is what makes an
    animated page affordable. A change drawn while an ack is held back is
    dropped, not sent later: when a held-back ack brings no new frame within
    an interval, the page is captured once more, or a dashboard that finished
    drawing in that moment would stay on its loading screen.
    """

    def __init__(
        self,
        page: Page,
        width: int,
        height: int,
        fps: int,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _LOGGER,
        *,
        stats: PipelineStats | None = None,
        latest: bytes | None = None,
    ) -> None:
        """Initialize; call start(). Log lines go to log (the session's, with its prefix).

        latest: the last frame of the capture this one replaces, shown until
        the new page draws.
        """
        self._page = page
        self._width = width
        self._height = height
        self._interval = 1.0 / fps
        self._log = log
        self._cdp: CDPSession | None = None
        self._last_ack = 0.0
        self._ack_handles: set[asyncio.TimerHandle] = set()
        self._ack_tasks: set[asyncio.Task[None]] = set()
        self.latest = latest
        self.stats = stats if stats is not None else PipelineStats()
        self.last_frame_at = 0.0  # loop time of the latest frame

    async def probe(self) -> None:
        """Ask the page for an answer (it never comes while the page hangs)."""
        if self._cdp is None:
            raise RuntimeError("The screencast is not running")
        await self._cdp.send("Runtime.evaluate", {"expression": "0"})

    async def start(self) -> None:
        """Start the screencast."""
        self._cdp = await self._page.context.new_cdp_session(self._page)
        self._cdp.on("Page.screencastFrame", self._on_frame)
        await self._cdp.send(
            "Page.startScreencast",
            {
                "format": "jpeg",
                "quality": JPEG_QUALITY,
                "maxWidth": self._width,
                "maxHeight": self._height,
            },
        )

    async def stop(self, *, page_answers: bool = True) -> None:
        """Stop the screencast; the page may already be gone.

        page_answers=False: the page crashed or hangs, and would leave a polite
        stop waiting for an answer that never comes; just stop listening.
        """
        cdp, self._cdp = self._cdp, None  # from here on, frames are ignored
        for handle in self._ack_handles:
            handle.cancel()
        self._ack_handles.clear()
        for task in self._ack_tasks:  # one may wait to capture the page once more
            task.cancel()
        if cdp is not None and page_answers:
            try:
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
            except Exception:  # noqa: BLE001 - logged with its traceback below
                self._log.debug("Screencast already stopped", exc_info=True)

    def _on_frame(self, event: dict[str, Any]) -> None:
        if self._cdp is None:  # a frame still in flight while stop() runs
            return
        self.latest = base64.b64decode(event["data"])
        self.stats.frames_in += 1
        loop = asyncio.get_running_loop()
        now = self.last_frame_at = loop.time()
        delay = max(0.0, self._last_ack + self._interval - now)
        self._last_ack = now + delay
        handles = self._ack_handles

        def ack() -> None:
            handles.discard(handle)
            if self._cdp is not None:
                task = loop.create_task(self._ack(event["sessionId"], held_back=delay > 0))
                self._ack_tasks.add(task)
                task.add_done_callback(self._ack_tasks.discard)

        handle = loop.call_later(delay, ack)
        handles.add(handle)

    async def _ack(self, session_id: int, *, held_back: bool) -> None:
        if self._cdp is None:
            return
        try:
            await self._cdp.send("Page.screencastFrameAck", {"sessionId": session_id})
        except Exception:  # noqa: BLE001 - logged with its traceback below
            self._log.debug("Screencast ack failed", exc_info=True)
            return
        if held_back:
            frames = self.stats.frames_in
            await asyncio.sleep(self._interval)
            if self.stats.frames_in == frames:
                await self._capture_once()

    async def _capture_once(self) -> None:
        """Take the page's picture now, as the screencast would have sent it."""
        if self._cdp is None:
            return
        try:
            shot = await self._cdp.send(
                "Page.captureScreenshot", {"format": "jpeg", "quality": JPEG_QUALITY}
            )
        except Exception:  # noqa: BLE001 - logged with its traceback below
            self._log.debug("Capturing the page failed", exc_info=True)
            return
        if self._cdp is not None:
            self.latest = base64.b64decode(shot["data"])
            self.stats.frames_in += 1
            self.last_frame_at = asyncio.get_running_loop().time()


# How long a tick waits for the screencast's picture of a frame that changed.
FRAME_WAIT = 0.1


class FrameClockCapture(ScreencastCapture):
    """The screencast of a page that renders only on our clock (begin-frame control).

    Each tick renders one frame (HeadlessExperimental.beginFrame); when it
    changed the page, the screencast sends its picture, which the tick waits
    for, so the encoder writes it on the same tick. Frames come at most one
    a tick: they are acknowledged at once.
    """

    def __init__(self, *args: Any, frame_lock: asyncio.Lock | None = None, **kwargs: Any) -> None:
        """Initialize as ScreencastCapture; frame_lock: the browser's, held while rendering."""
        super().__init__(*args, **kwargs)
        self._frame_lock = frame_lock or asyncio.Lock()
        self._frame_arrived = asyncio.Event()
        self.ticks = 0
        self.damaged_ticks = 0

    async def tick(self) -> None:
        """Render one frame now; return once its picture is in (if it changed anything)."""
        cdp = self._cdp
        if cdp is None:
            return
        self._frame_arrived.clear()
        # A frame Chromium started must end before another page's starts, even
        # when the caller stops waiting: the frame goes on in a task of its own.
        frame = asyncio.ensure_future(self._begin_frame(cdp))
        frame.add_done_callback(_retrieve)
        await asyncio.wait([frame])  # which, unlike awaiting it, never cancels it
        if frame.result():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FRAME_WAIT):
                    await self._frame_arrived.wait()

    async def _begin_frame(self, cdp: CDPSession) -> bool:
        """Render one frame, alone in the browser; tell whether it changed the picture."""
        async with self._frame_lock:
            result = await cdp.send(
                "HeadlessExperimental.beginFrame", {"interval": self._interval * 1000}
            )
        self.ticks += 1
        if result.get("hasDamage"):
            self.damaged_ticks += 1
            return True
        return False

    @override
    def _on_frame(self, event: dict[str, Any]) -> None:
        cdp = self._cdp
        if cdp is None:  # a frame still in flight while stop() runs
            return
        self.latest = base64.b64decode(event["data"])
        self.stats.frames_in += 1
        loop = asyncio.get_running_loop()
        self.last_frame_at = loop.time()
        self._frame_arrived.set()
        task = loop.create_task(self._ack(event["sessionId"], held_back=False))
        self._ack_tasks.add(task)
        task.add_done_callback(self._ack_tasks.discard)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Take a finished frame's error, which its caller may have stopped waiting for."""
    if not task.cancelled():
        task.exception()
