"""Capture a page with the DevTools screencast, at most at the stream's frame rate.

Two ways, by what the browser offers:

- ScreencastCapture: Chromium renders at display rate (60 frames/s) and the
  screencast sends a frame when the page changed, held to the output rate.
  Any browser does this.
- FrameClockCapture: the headless shell under begin-frame control renders only
  when we ask: when the page says it changed, and at the encoder's ticks while
  it moves; a render that may have changed the picture brings the picture in
  its answer. A page that moves costs 5 renders a second instead of 60, a
  still one about one.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
import logging
import math
from typing import TYPE_CHECKING, Any, override

from .watchdog import PipelineStats

if TYPE_CHECKING:
    from playwright.async_api import Page

    from .devtools import CdpSession

    type SessionOpener = Callable[[Page], Awaitable[CdpSession]]

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
        open_session: SessionOpener | None = None,
    ) -> None:
        """Initialize; call start(). Log lines go to log (the session's, with its prefix).

        latest: the last frame of the capture this one replaces, shown until
        the new page draws. open_session(page): the DevTools sessions the
        frames come on (default: Playwright's).
        """
        self._page = page
        self._open_session = open_session or _playwright_session
        self._width = width
        self._height = height
        self._interval = 1.0 / fps
        self._log = log
        self._cdp: CdpSession | None = None
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

    async def prepare(self) -> None:
        """Run on the blank page, before navigating to it (nothing for the screencast)."""

    @contextlib.asynccontextmanager
    async def next_document(self) -> AsyncIterator[None]:
        """Around the page loading a document of its own (a reload): nothing for the screencast."""
        yield

    async def start(self) -> None:
        """Start the screencast (once the page is loaded)."""
        self._cdp = await self._open_session(self._page)
        await self._start_pictures(self._cdp)

    async def _start_pictures(self, cdp: CdpSession) -> None:
        cdp.on("Page.screencastFrame", self._on_frame)
        await cdp.send(
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
                await self._stop_pictures(cdp)
                await cdp.detach()
            except Exception:  # noqa: BLE001 - logged with its traceback below
                self._log.debug("Screencast already stopped", exc_info=True)

    async def _stop_pictures(self, cdp: CdpSession) -> None:
        await cdp.send("Page.stopScreencast")

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


# After a render that changed the picture, the page renders at every tick
# (with its picture) until a picture comes out unchanged, for at most this
# long from the last change: a page that moves keeps moving.
ACTIVE_SECONDS = 1.0
# A still page renders this often, for changes its script cannot tell of (an
# image decoded, a video's first frame, a canvas drawn on a timer).
HEARTBEAT_SECONDS = 1.0
# The page's way to say it changed (page.py's init script calls it).
WAKE_BINDING = "__dashboardCastWake"
# The picture a render brings in its answer (as the screencast's).
SCREENSHOT = {"format": "jpeg", "quality": JPEG_QUALITY}
# The picture of the frame last drawn, without drawing another. A frame that
# brings its picture leaves damage behind: the next render reports that it
# drew something, even on a still page, and would take a picture again at
# every heartbeat. This one leaves none, and a change made since the frame
# was drawn stays damage for the next render.
PICTURE_OF_DRAWN_FRAME = {"screenshot": SCREENSHOT, "noDisplayUpdates": True}


class FrameClockCapture(ScreencastCapture):
    """Pictures of a page that renders only on our clock (begin-frame control).

    A render (HeadlessExperimental.beginFrame) that may change the picture
    asks for the frame's picture in its answer, so the encoder writes it on
    the same tick. The picture is part of the render: none is lost, unlike the
    screencast's, which skips a frame drawn while earlier ones are in flight;
    on this clock nothing else is drawn until the page changes again, so a
    skipped frame stayed on the TV (a dashboard on its loading screen).

    Renders come on demand. The page says when it changed (a DOM change, also
    in a shadow root, an animation frame it asks for, a loaded image or
    media): it renders at once, at most once an interval. After a picture
    that changed, it renders with its picture at every tick until one comes
    out unchanged (ACTIVE_SECONDS at most). A still page renders once every
    HEARTBEAT_SECONDS. Outside those ticks a render takes its picture only if
    it drew something.
    """

    def __init__(self, *args: Any, frame_lock: asyncio.Lock | None = None, **kwargs: Any) -> None:
        """Initialize as ScreencastCapture; frame_lock: the browser's, held while rendering."""
        super().__init__(*args, **kwargs)
        self._frame_lock = frame_lock or asyncio.Lock()
        self._rendering = False
        self._wanted = False  # the page asked for a render that has not come yet
        self._wake_cdp: CdpSession | None = None  # where the page's binding calls arrive
        self._last_render = -math.inf  # loop time
        self._active_until = -math.inf
        self.ticks = 0  # renders
        self.pictures = 0  # pictures taken, changed or not
        self.wakes = 0  # times the page said it changed

    @override
    async def prepare(self) -> None:
        """Give the page the binding to tell of its changes, before its scripts run.

        The init script (page.py) takes the binding away from the page's own
        scripts, which could otherwise call it in a loop. Chromium installs a
        binding in documents to come only while Runtime is enabled; start()
        disables it again, so that nothing else of the page (its console, say)
        reaches us. A document the page loads later renders on the heartbeat
        and while it moves, without the page's word.
        """
        self._wake_cdp = await self._open_session(self._page)
        self._wake_cdp.on("Runtime.bindingCalled", self._on_wake)
        await self._wake_cdp.send("Runtime.enable")
        await self._wake_cdp.send("Runtime.addBinding", {"name": WAKE_BINDING})

    @override
    @contextlib.asynccontextmanager
    async def next_document(self) -> AsyncIterator[None]:
        """Give the document the page loads next (a reload) the binding, as prepare() did.

        Chromium forgets a binding when Runtime is disabled: it is added
        again. The document going away keeps its name taken (page.py), so
        only the next one gets it.
        """
        wake_cdp = self._wake_cdp
        if wake_cdp is None:
            yield
            return
        await wake_cdp.send("Runtime.enable")
        try:
            await wake_cdp.send("Runtime.addBinding", {"name": WAKE_BINDING})
            yield
        finally:
            try:
                await wake_cdp.send("Runtime.disable")
            except Exception:  # noqa: BLE001 - logged with its traceback below
                self._log.debug("Page already gone", exc_info=True)

    @override
    async def _start_pictures(self, cdp: CdpSession) -> None:
        """Pictures come with renders: render with one at the first ticks."""
        if self._wake_cdp is not None:
            await self._wake_cdp.send("Runtime.disable")
        self._active_until = asyncio.get_running_loop().time() + ACTIVE_SECONDS

    @override
    async def _stop_pictures(self, cdp: CdpSession) -> None:
        """Nothing runs between renders."""

    @override
    async def stop(self, *, page_answers: bool = True) -> None:
        """Stop rendering and stop listening to the page."""
        await super().stop(page_answers=page_answers)
        wake_cdp, self._wake_cdp = self._wake_cdp, None
        if wake_cdp is not None and page_answers:
            try:
                await wake_cdp.detach()
            except Exception:  # noqa: BLE001 - logged with its traceback below
                self._log.debug("Page already gone", exc_info=True)

    async def tick(self) -> None:
        """The encoder's tick: render now if the page moves, asked, or the heartbeat is due."""
        now = asyncio.get_running_loop().time()
        if self._wanted or now < self._active_until or now - self._last_render >= HEARTBEAT_SECONDS:
            await self._render()

    def _on_wake(self, event: dict[str, Any]) -> None:
        """The page changed: render at once, or at the next tick if one was just rendered."""
        if event.get("name") != WAKE_BINDING or self._cdp is None:
            return
        self.wakes += 1
        loop = asyncio.get_running_loop()
        if self._rendering or loop.time() - self._last_render < self._interval:
            self._wanted = True
            return
        task = loop.create_task(self._render_woken())
        self._ack_tasks.add(task)  # stop() cancels it
        task.add_done_callback(self._ack_tasks.discard)

    async def _render_woken(self) -> None:
        try:
            await self._render()
        except Exception:  # noqa: BLE001 - the page may be gone; the watchdog judges
            self._log.debug("Rendering the changed page failed", exc_info=True)

    async def _render(self) -> None:
        """Render one frame now; return with its picture in, if it may have changed."""
        cdp = self._cdp
        if cdp is None or self._rendering:
            return
        now = asyncio.get_running_loop().time()
        # While it moves, the picture is wanted at every tick. A page that
        # said it changed may not have changed what it shows (a script that
        # asks for animation frames and draws nothing): it renders first, and
        # takes its picture only if that drew something.
        moving = now < self._active_until
        self._rendering, self._wanted = True, False
        self._last_render = now
        try:
            # A frame Chromium started must end before another page's starts, and
            # its picture must land, even when the caller stops waiting (the
            # encoder's tick is over): the frame goes on in a task of its own.
            frame = asyncio.ensure_future(self._frame(cdp, with_picture=moving))
            frame.add_done_callback(_retrieve)
            await asyncio.wait([frame])  # which, unlike awaiting it, never cancels it
            frame.result()
        finally:
            self._rendering = False

    async def _frame(self, cdp: CdpSession, *, with_picture: bool) -> None:
        """Render one frame, alone in the browser, and keep its picture if it changed.

        Without with_picture, a picture (of the frame just drawn) is taken only
        if the frame drew something: a change the page did not tell of. A
        frame that brings its picture always draws, so whether it changed
        shows in the picture itself.
        """
        params: dict[str, Any] = {"interval": self._interval * 1000}
        async with self._frame_lock:
            result = await cdp.send(
                "HeadlessExperimental.beginFrame",
                {**params, "screenshot": SCREENSHOT} if with_picture else params,
            )
            if not with_picture and result.get("hasDamage"):
                result = await cdp.send(
                    "HeadlessExperimental.beginFrame", {**params, **PICTURE_OF_DRAWN_FRAME}
                )
        self.ticks += 1
        data = result.get("screenshotData")
        if data is None:
            return
        self.pictures += 1
        if self._cdp is not cdp:  # stopped meanwhile
            return
        picture = base64.b64decode(data)
        loop = asyncio.get_running_loop()
        if picture == self.latest:  # drawn again, unchanged: the page is still
            self._active_until = -math.inf
            return
        self.latest = picture
        self.stats.frames_in += 1
        self.last_frame_at = loop.time()
        self._active_until = self.last_frame_at + ACTIVE_SECONDS


async def _playwright_session(page: Page) -> CdpSession:
    return await page.context.new_cdp_session(page)


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Take a finished frame's error, which its caller may have stopped waiting for."""
    if not task.cancelled():
        task.exception()
