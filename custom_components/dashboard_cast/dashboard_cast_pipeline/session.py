"""A stream session: one page in Chromium, captured and encoded to live HLS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field, replace
from functools import partial
import logging
from pathlib import Path
import secrets
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any, Protocol, override

from yarl import URL

from .browser import BrowserPool
from .capture import FrameClockCapture, ScreencastCapture
from .egress import EgressPolicy, EgressProxy
from .encoder import (
    HlsEncoder,
    has_zscale,
    listed_segments,
    master_playlist,
    segment_duration,
)
from .hls import StreamRegistry
from .options import (
    MAX_BITRATE_KBPS,
    STREAM_OPTIONS,
    TRANSPOSE,
    VIEWPORTS,
    Orientation,
    Quality,
    Theme,
    stream_option_values,
)
from .page import PageSpec, async_open_page, is_url
from .redact import url_for_logs
from .segments import MEDIA_PLAYLIST, MediaPlaylist
from .watchdog import PipelineStats, RestartBudget, RestartsExhaustedError

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

_LOGGER = logging.getLogger(__name__)

PLAYABLE_SEGMENTS = 2
# The watchdog looks this often. A page that sent no frame for HANG_SECONDS is
# asked for an answer, and counts as hung without one within PROBE_TIMEOUT.
WATCH_INTERVAL = 0.5
HANG_SECONDS = 1.0
PROBE_TIMEOUT = 2.0
# An encoder that wrote no segment for this long (and at least three segment
# lengths) has hung: a segment comes every segment length, still page or not.
ENCODER_HANG_SECONDS = 5.0
# A look of the watchdog this late means the event loop itself stood still
# (a busy integration, a slow disk): no part had a chance to work meanwhile.
LOOP_STOOD_STILL_SECONDS = 1.0
# A page that crashes this soon after the pool stopped a renderer for its
# memory crashed of that: a stopped renderer's crash reaches us within this,
# also on a busy machine (half a second at rest here, over 2 s under load).
MEMORY_STOP_WINDOW = 5.0
PAGE_CRASHED = "The page crashed"
CLOSE_TIMEOUT = 3.0
# How long a reload waits for the new document.
RELOAD_TIMEOUT = 15.0
# Home Assistant's frontend keeps a websocket open with the session's token.
# Closing it from the page before the page goes lets Home Assistant end that
# connection the usual way, before the token is revoked (for a revoked token
# Home Assistant cuts the connection off, and leaves its heartbeat timer).
FRONTEND_DISCONNECT = """async () => {
  const frontend = await Promise.race([
    window.hassConnection, new Promise((done) => setTimeout(done, 500)),
  ]);
  frontend?.conn?.close();
}"""
# Another page of Home Assistant's, in the frontend already running: as its own
# navigate() does (replace, so a day of rotating views keeps no history).
FRONTEND_NAVIGATE = """(path) => {
  history.replaceState(null, "", path);
  window.dispatchEvent(new CustomEvent("location-changed", { detail: { replace: true } }));
}"""
PART_ENCODER = "encoder"
PART_BROWSER = "browser"
PART_PAGE = "page"


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What one session shows, and how."""

    dashboard: str
    quality: Quality
    fps: int
    zoom: float
    theme: Theme
    reduce_motion: bool
    segment_seconds: float
    silent_audio: bool = False
    screen_care: bool = False
    orientation: Orientation = Orientation.LANDSCAPE

    @classmethod
    def from_values(cls, dashboard: str, values: Mapping[str, Any]) -> StreamOptions:
        """Options for dashboard from the stream options in values (validated; defaults filled)."""
        return cls(dashboard=dashboard, **stream_option_values(values))

    def values(self) -> dict[str, Any]:
        """The stream options (without the dashboard), as JSON carries them."""
        return stream_option_values(
            {option.key: getattr(self, option.key) for option in STREAM_OPTIONS}, as_json=True
        )

    @property
    def size(self) -> tuple[int, int]:
        """Output width and height in pixels."""
        return VIEWPORTS[self.quality]

    @property
    def page_size(self) -> tuple[int, int]:
        """The page's width and height in pixels: the output's, turned for a portrait screen."""
        width, height = self.size
        if self.orientation is Orientation.LANDSCAPE:
            return width, height
        return height, width

    @property
    def max_kbps(self) -> int:
        """The encoder's bitrate cap."""
        return MAX_BITRATE_KBPS[self.quality]

    @property
    def segment_duration(self) -> float:
        """The segment length the stream has: segment_seconds in whole frames."""
        return segment_duration(self.fps, self.segment_seconds)


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """Who a session is: known before its pipeline starts, so callers get it at once."""

    target: str  # the cast entity id
    session_id: str = field(default_factory=lambda: secrets.token_hex(4))
    # 128 bits: the stream URL is the only key to the stream.
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)


class SessionLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefix every line with the session id, target and dashboard; never the token."""

    @override
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Add the prefix."""
        assert self.extra is not None
        extra = self.extra
        return f"[{extra['session_id']} {extra['target']} {extra['dashboard']}] {msg}", kwargs


def session_logger(identity: SessionIdentity, dashboard: str) -> SessionLogger:
    """The logger for one session's lines (the dashboard without credentials)."""
    return SessionLogger(
        _LOGGER,
        {
            "session_id": identity.session_id,
            "target": identity.target,
            "dashboard": url_for_logs(dashboard),
        },
    )


class RenderSession(Protocol):
    """A stream being rendered: here (StreamSession) or by a renderer service (RemoteSession).

    What the integration may use of a session; nothing else of it.
    """

    options: StreamOptions
    identity: SessionIdentity
    stats: PipelineStats

    @property
    def session_id(self) -> str:
        """Names the session in logs, events and the entity's attributes."""

    @property
    def token(self) -> str:
        """The secret in the stream's URL."""

    async def start(self) -> None:
        """Start rendering; undo what was started and raise if it cannot."""

    async def wait_playable(self) -> None:
        """Return once a player can start the stream; raise if it never will."""

    async def stop(self) -> None:
        """Revoke the stream's URL, then stop; safe to call more than once."""

    async def reload(self) -> None:
        """Load the page again (its dashboard's configuration changed)."""

    async def show(self, dashboard: str) -> None:
        """Show another page; the stream, its URL and the player go on."""

    async def frame(self) -> bytes | None:
        """The latest frame (JPEG), for the preview camera; None before the first."""

    def ffmpeg_cpu_seconds(self) -> float:
        """CPU time this session's encoders used so far, where it is rendered."""


class StreamSession:
    """Chromium page → its pictures → FFmpeg → HLS files in a private temp folder.

    Served under its token by the registry it is given, from start() to stop().
    """

    def __init__(
        self,
        pool: BrowserPool,
        ffmpeg_binary: str,
        options: StreamOptions,
        identity: SessionIdentity,
        hass_url: str,
        refresh_token: str | None,
        on_failure: Callable[[str], None] = lambda error: None,
        temp_root: Path | None = None,
        registry: StreamRegistry | None = None,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        """Initialize; call start(). on_failure(error) tells that the watchdog gave up.

        temp_root: where the session's folder goes (default: the system's temp folder).
        registry: serves the stream's files while the session runs.
        allowed_origins: origins the page may reach even on loopback or the LAN
        (an administrator allowed them); Home Assistant's own for its dashboards.
        """
        self.options = options
        self.identity = identity
        self.token = identity.token
        self.session_id = identity.session_id
        self._registry = registry
        self._pool = pool
        self._ffmpeg_binary = ffmpeg_binary
        self._hass_url = hass_url
        self._refresh_token = refresh_token
        self.out_dir: Path | None = None
        self._on_failure = on_failure
        self._temp_root = temp_root
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._page_crash = asyncio.Event()
        self._crash_reason = PAGE_CRASHED
        self._has_browser = False
        # One page at a time: the watchdog's restarts and show() replace it.
        self._page_lock = asyncio.Lock()
        self.stats = PipelineStats()
        self._budget = RestartBudget()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_probe = 0.0
        # When the watchdog last found that the loop had stood still (time.time()).
        self._loop_moved_again_at = 0.0
        self._encoder_generation = 0
        self.capture: ScreencastCapture | None = None
        self.encoder: HlsEncoder | None = None
        self.log = session_logger(identity, options.dashboard)
        own_origin = [hass_url] if hass_url and self._own_site else []
        self.egress_policy = EgressPolicy.allowing([*allowed_origins, *own_origin])
        self._egress: EgressProxy | None = None

    @property
    def page_url(self) -> str:
        """The address Chromium opens."""
        if is_url(self.options.dashboard):
            return self.options.dashboard
        return f"{self._hass_url}/{self.options.dashboard}"

    @property
    def latest_frame(self) -> bytes | None:
        """The latest captured JPEG, if any."""
        return self.capture.latest if self.capture is not None else None

    async def frame(self) -> bytes | None:
        """The latest captured JPEG, for the preview camera (as RemoteSession.frame)."""
        return self.latest_frame

    @property
    def master_playlist(self) -> str:
        """The master playlist text."""
        width, height = self.options.size
        return master_playlist(
            width,
            height,
            self.options.fps,
            self.options.max_kbps,
            silent_audio=self.options.silent_audio,
        )

    async def start(self) -> None:
        """Start everything; on failure, undo what was started and re-raise."""
        try:
            mkdtemp = asyncio.ensure_future(
                asyncio.to_thread(tempfile.mkdtemp, prefix="dashboard_cast_", dir=self._temp_root)
            )
            try:
                self.out_dir = Path(await asyncio.shield(mkdtemp))
            except asyncio.CancelledError:
                # Replaced meanwhile: the folder is made all the same; stop() removes it.
                self.out_dir = Path(await mkdtemp)
                raise
            if self._pool.launches_browser:
                # A browser elsewhere (cdp_url) cannot reach our loopback: its own network rules.
                self._egress = EgressProxy(self.egress_policy, self.stats.count_blocked)
                await self._egress.start()
            # FFmpeg's filter list (asked once a binary, 70 to 340 ms here) comes
            # while the page opens, not after it.
            await asyncio.gather(self._open_page(), has_zscale(self._ffmpeg_binary))
            await self._start_encoder()
        except BaseException:
            await self.stop()
            raise
        self._watchdog = asyncio.get_running_loop().create_task(
            self._watch(), name=f"dashboard_cast watchdog {self.session_id}"
        )
        if self._registry is not None:
            self._registry.add(self)
        width, height = self.options.size
        self.log.debug(
            "Rendering %s at %sx%s, %s fps",
            url_for_logs(self.page_url),
            width,
            height,
            self.options.fps,
        )

    @property
    def _own_site(self) -> bool:
        """The page is Home Assistant's own, the only one that gets the login.

        Compared by origin: a renderer elsewhere is handed the full URL.
        """
        return bool(self._hass_url) and URL(self.page_url).origin() == URL(self._hass_url).origin()

    async def _open_page(self, latest: bytes | None = None) -> None:
        """Open the page in the shared browser and start capturing it."""
        width, height = self.options.page_size
        self._browser = await self._pool.acquire()
        self._has_browser = True
        self._page_crash.clear()
        self._crash_reason = PAGE_CRASHED
        clock = self._pool.frame_clock
        captures: list[ScreencastCapture] = []

        async def before_navigation(page: Page) -> None:
            args = (page, width, height, self.options.fps, self.log)
            make = (
                partial(FrameClockCapture, frame_lock=self._pool.frame_lock)
                if clock
                else ScreencastCapture
            )
            capture = make(
                *args, stats=self.stats, latest=latest, open_session=self._pool.page_session
            )
            captures.append(capture)
            await capture.prepare()

        self._context, self._page = await async_open_page(
            self._browser,
            PageSpec(
                url=self.page_url,
                width=width,
                height=height,
                zoom=self.options.zoom,
                theme=self.options.theme,
                reduce_motion=self.options.reduce_motion,
                screen_care=self.options.screen_care,
                frame_clock=clock,
                hass_url=self._hass_url if self._own_site else None,
                refresh_token=self._refresh_token if self._own_site else None,
                proxy=None if self._egress is None else self._egress.url,
            ),
            before_navigation,
        )
        self._page.on("crash", self._on_page_crash)
        [capture] = captures
        await capture.start()
        self.capture = capture

    async def _close_page(self, *, page_answers: bool = True) -> None:
        """Stop capturing and close the page's context; the browser may be gone or hung."""
        capture, context, page = self.capture, self._context, self._page
        self._context = self._page = None
        closing: list[Callable[[], Awaitable[None]]] = []
        if page is not None and page_answers and self._own_site:
            closing.append(lambda: page.evaluate(FRONTEND_DISCONNECT))
        if capture is not None:
            closing.append(lambda: capture.stop(page_answers=page_answers))
        if context is not None:
            closing.append(context.close)
        for close in closing:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await close()
            except Exception:  # a dead page cannot be closed politely
                self.log.debug("Page already gone", exc_info=True)
        if self._has_browser:
            self._has_browser = False
            self._browser = None
            self._pool.release()

    async def _start_encoder(
        self,
        generation: int = 0,
        timeline_origin: float | None = None,
        playlist: MediaPlaylist | None = None,
    ) -> None:
        assert self.out_dir is not None
        width, height = self.options.size
        self.encoder = HlsEncoder(
            self._ffmpeg_binary,
            self.out_dir,
            width,
            height,
            self.options.fps,
            self.options.segment_seconds,
            self.options.max_kbps,
            lambda: self.latest_frame,
            self.log,
            stats=self.stats,
            generation=generation,
            timeline_origin=timeline_origin,
            playlist=playlist,
            silent_audio=self.options.silent_audio,
            transpose=TRANSPOSE[self.options.orientation],
            before_frame=self._tick if self._pool.frame_clock else None,
        )
        await self.encoder.start()

    async def _tick(self) -> None:
        """Render the page's next frame: the encoder's clock is the page's."""
        capture = self.capture
        if isinstance(capture, FrameClockCapture):
            await capture.tick()

    # -- the watchdog --------------------------------------------------------

    async def _watch(self) -> None:
        """Restart whatever part failed, behind the same URL; give up after too many."""
        loop = asyncio.get_running_loop()
        while True:
            asleep_since = loop.time()
            await asyncio.sleep(WATCH_INTERVAL)
            if loop.time() - asleep_since - WATCH_INTERVAL > LOOP_STOOD_STILL_SECONDS:
                self._loop_moved_again_at = time.time()
            fault = await self._find_fault()
            if fault is None:
                continue
            part, error = fault
            self.stats.last_error = error
            try:
                delay = self._budget.next_delay()
            except RestartsExhaustedError:
                self.log.warning("Giving up after %s restarts: %s", self.stats.restarts, error)
                self._on_failure(error)
                return
            self.log.warning("Restarting the %s: %s", part, error)
            await asyncio.sleep(delay)
            self.stats.restarts += 1
            try:
                await self._restart(part)
            except Exception as err:  # noqa: BLE001 - the next look finds the part still broken
                self.stats.last_error = f"Restarting the {part} failed: {err}"
                self.log.warning("%s", self.stats.last_error)
            else:
                self.log.info("Restarted the %s", part)

    async def _find_fault(self) -> tuple[str, str] | None:
        """Return which part failed and how, or None while all is well."""
        encoder = self.encoder
        if encoder is None or encoder.returncode is not None:
            code = encoder.returncode if encoder is not None else None
            tail = " / ".join(encoder.log_tail) if encoder is not None else ""
            return PART_ENCODER, f"FFmpeg exited with code {code}: {tail}".rstrip(": ")
        if (silent := await self._encoder_silence()) is not None:
            return PART_ENCODER, f"FFmpeg wrote no segment for {silent:.0f} s"
        if self._page_lock.locked():
            return None  # the page is being replaced: look again after
        browser, page, capture = self._browser, self._page, self.capture
        if browser is None or not browser.is_connected():
            return PART_BROWSER, "Chromium exited"
        if page is None or capture is None or page.is_closed() or self._page_crash.is_set():
            return PART_PAGE, self._crash_reason
        return await self._probe(browser, capture)

    async def _probe(self, browser: Browser, capture: ScreencastCapture) -> tuple[str, str] | None:
        """No picture comes while the page is still: ask the page itself."""
        now = asyncio.get_running_loop().time()
        if now - capture.last_frame_at < HANG_SECONDS or now - self._last_probe < HANG_SECONDS:
            return None
        self._last_probe = now
        # Page and browser at once, and a silent browser counts as soon as its
        # own (shorter) wait is over: no second wait for the page.
        page_probe = asyncio.ensure_future(_page_error(capture))
        try:
            if not await self._pool.async_answers(browser):
                return PART_BROWSER, "Chromium stopped answering"
            page_error = await page_probe
        finally:
            page_probe.cancel()
        if page_error is None:
            return None
        if self._page_crash.is_set():  # it crashed while we asked: no answer, but a cause
            return PART_PAGE, self._crash_reason
        # A page filling its memory often stalls before the memory guard's next
        # look: look now. A renderer stopped for its memory, now or just before
        # (its crash may still be on its way), names the cause if it was this
        # page's.
        await self._pool.async_stop_hoarding_renderers()
        stopped, now = self._pool.memory_stopped_at, asyncio.get_running_loop().time()
        if stopped is not None and (wait := stopped + MEMORY_STOP_WINDOW - now) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._page_crash.wait()
            if self._page_crash.is_set():
                return PART_PAGE, self._crash_reason
        return PART_PAGE, page_error

    async def _encoder_silence(self) -> float | None:
        """Seconds the running encoder has written no segment, once that means it hung.

        Time the event loop stood still does not count: the encoder got no
        frame then, and writes the missed ones as soon as the loop moves.
        """
        assert self.encoder is not None
        started = self.encoder.started_at
        if started is None:
            return None
        limit = max(ENCODER_HANG_SECONDS, 3 * self.options.segment_duration)
        now = time.time()
        silent = min(
            now - started,
            now - self._loop_moved_again_at,
            await self._seconds_since_last_segment(),
        )
        return silent if silent > limit else None

    async def _restart(self, part: str) -> None:
        if part == PART_ENCODER:
            assert self.encoder is not None
            # It exited, or it hung and would never read the end of its input.
            await self.encoder.stop(kill=True)
            self._encoder_generation += 1
            await self._start_encoder(
                self._encoder_generation, self.encoder.timeline_origin, self.encoder.playlist
            )
            return
        async with self._page_lock:
            latest = self.latest_frame
            if part == PART_BROWSER and self._browser is not None:
                await self._pool.async_discard(self._browser)  # crashed or hung: kill it
            await self._close_page(page_answers=False)
            await self._open_page(latest)

    async def _seconds_since_last_segment(self) -> float:
        assert self.out_dir is not None
        playlist = self.out_dir / MEDIA_PLAYLIST
        try:
            written = (await asyncio.to_thread(playlist.stat)).st_mtime
        except OSError:
            return 0.0
        return max(0.0, time.time() - written)

    def _on_page_crash(self, _: Any) -> None:
        stopped = self._pool.memory_stopped_at
        now = asyncio.get_running_loop().time()
        if stopped is not None and now - stopped < MEMORY_STOP_WINDOW:
            limit = self._pool.page_memory_limit // 2**20
            self._crash_reason = f"{PAGE_CRASHED}: it used more than {limit} MB of memory"
        else:
            self._crash_reason = PAGE_CRASHED
        self._page_crash.set()

    async def is_playable(self) -> bool:
        """Tell whether the media playlist lists enough segments for a player to start."""
        out_dir = self.out_dir
        return out_dir is not None and (
            await asyncio.to_thread(listed_segments, out_dir) >= PLAYABLE_SEGMENTS
        )

    def ffmpeg_cpu_seconds(self) -> float:
        """CPU time this session's encoders used so far: the exited ones and the running one."""
        running = self.encoder.cpu_seconds() if self.encoder is not None else 0.0
        return self.stats.ffmpeg_cpu_seconds + running

    async def wait_playable(self) -> None:
        """Wait until the media playlist lists enough segments for a player to start."""
        assert self.out_dir is not None
        assert self.encoder is not None
        while await asyncio.to_thread(listed_segments, self.out_dir) < PLAYABLE_SEGMENTS:
            if self.encoder.returncode is not None:
                raise RuntimeError(
                    f"FFmpeg exited with code {self.encoder.returncode}: "
                    + " / ".join(self.encoder.log_tail)
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Revoke the URL, then stop everything this session started; safe to repeat.

        The egress proxy and the folder go whatever happened before: a stop cut
        short by a second cancellation or an error still leaves neither behind.
        """
        if self._registry is not None:
            self._registry.remove(self)
        try:
            if self._watchdog is not None:
                watchdog, self._watchdog = self._watchdog, None
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if self.encoder is not None:
                await self.encoder.stop()
            await self._close_page()
        finally:
            if self._egress is not None:
                egress, self._egress = self._egress, None
                await egress.close()
            if self.out_dir is not None:
                out_dir, self.out_dir = self.out_dir, None
                await asyncio.to_thread(shutil.rmtree, out_dir, True)
        self.log.debug("Pipeline stopped")

    async def reload(self) -> None:
        """Load the page again (its dashboard's configuration changed).

        Returns once the new document is in (or RELOAD_TIMEOUT passed): the
        capture readies it as it readied the first (its wake binding).
        """
        page, capture = self._page, self.capture
        if page is None or capture is None:
            return
        self.log.debug("Reloading the page")
        try:
            async with capture.next_document():
                await page.reload(wait_until="domcontentloaded", timeout=RELOAD_TIMEOUT * 1000)
        except Exception:
            self.log.debug("Reload failed", exc_info=True)

    async def show(self, dashboard: str) -> None:
        """Show another page (a dashboard path or URL); the stream goes on.

        From one page of Home Assistant's to another, the frontend already
        running navigates, as a click would: no reload, no login. Any other
        change opens the new page in a context of its own (its login and
        styles are the page's), while the encoder repeats the last picture.
        """
        async with self._page_lock:
            was_own_site = self._own_site
            self.options = replace(self.options, dashboard=dashboard)
            page = self._page
            if was_own_site and self._own_site and page is not None and not page.is_closed():
                self.log.debug("Navigating to %s", url_for_logs(self.page_url))
                await page.evaluate(FRONTEND_NAVIGATE, URL(self.page_url).path_qs)
                return
            self.log.debug("Opening %s", url_for_logs(self.page_url))
            # The closed capture keeps its last picture: the encoder repeats it.
            latest = self.latest_frame
            await self._close_page()
            await self._open_page(latest)


async def _page_error(capture: ScreencastCapture) -> str | None:
    """Why the page does not answer, or None when it does."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await capture.probe()
    except TimeoutError:
        return "The page stopped answering"
    except Exception as err:  # noqa: BLE001 - any error means the page is gone
        return f"The page stopped answering: {err}"
    return None
