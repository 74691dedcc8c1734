"""A stream session: one page in Chromium, captured and encoded to live HLS."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
from pathlib import Path
import secrets
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback

from .browser import BrowserPool
from .capture import ScreencastCapture
from .const import MAX_BITRATE_KBPS, VIEWPORTS, Quality, Theme
from .dashboard import is_url
from .encoder import HlsEncoder, listed_segments, master_playlist
from .page import PageSpec, async_open_page

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

_LOGGER = logging.getLogger(__name__)

EVENT_LOVELACE_UPDATED = "lovelace_updated"
PLAYABLE_SEGMENTS = 2


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

    @property
    def size(self) -> tuple[int, int]:
        """Output width and height in pixels."""
        return VIEWPORTS[self.quality]

    @property
    def max_kbps(self) -> int:
        """The encoder's bitrate cap."""
        return MAX_BITRATE_KBPS[self.quality]


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    """Who a session is: known before its pipeline starts, so callers get it at once."""

    target: str  # the cast entity id
    session_id: str = field(default_factory=lambda: secrets.token_hex(4))
    # 128 bits: the stream URL is the only key to the stream.
    token: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)


class SessionLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefix every line with the session id, target and dashboard; never the token."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Add the prefix."""
        assert self.extra is not None
        extra = self.extra
        return f"[{extra['session_id']} {extra['target']} {extra['dashboard']}] {msg}", kwargs


def session_logger(identity: SessionIdentity, dashboard: str) -> SessionLogger:
    """The logger for one session's lines."""
    return SessionLogger(
        _LOGGER,
        {"session_id": identity.session_id, "target": identity.target, "dashboard": dashboard},
    )


class StreamSession:
    """Chromium page → screencast → FFmpeg → HLS files in a private temp folder."""

    def __init__(
        self,
        hass: HomeAssistant,
        pool: BrowserPool,
        ffmpeg_binary: str,
        options: StreamOptions,
        identity: SessionIdentity,
        hass_url: str,
        refresh_token: str | None,
    ) -> None:
        """Initialize; call start()."""
        self.hass = hass
        self.options = options
        self.identity = identity
        self.token = identity.token
        self.session_id = identity.session_id
        self._pool = pool
        self._ffmpeg_binary = ffmpeg_binary
        self._hass_url = hass_url
        self._refresh_token = refresh_token
        self.out_dir: Path | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._has_browser = False
        self.capture: ScreencastCapture | None = None
        self.encoder: HlsEncoder | None = None
        self._unsub_lovelace: CALLBACK_TYPE | None = None
        self.log = session_logger(identity, options.dashboard)

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

    @property
    def master_playlist(self) -> str:
        """The master playlist text."""
        width, height = self.options.size
        return master_playlist(width, height, self.options.fps, self.options.max_kbps)

    async def start(self) -> None:
        """Start everything; on failure, undo what was started and re-raise."""
        width, height = self.options.size
        try:
            self.out_dir = Path(
                await self.hass.async_add_executor_job(
                    lambda: tempfile.mkdtemp(prefix="dashboard_cast_")
                )
            )
            browser = await self._pool.acquire()
            self._has_browser = True
            own_site = not is_url(self.options.dashboard)
            self._context, self._page = await async_open_page(
                browser,
                PageSpec(
                    url=self.page_url,
                    width=width,
                    height=height,
                    zoom=self.options.zoom,
                    theme=self.options.theme,
                    reduce_motion=self.options.reduce_motion,
                    hass_url=self._hass_url if own_site else None,
                    refresh_token=self._refresh_token if own_site else None,
                ),
            )
            self.capture = ScreencastCapture(self._page, width, height, self.options.fps, self.log)
            await self.capture.start()
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
            )
            await self.encoder.start()
            if own_site:
                self._unsub_lovelace = self.hass.bus.async_listen(
                    EVENT_LOVELACE_UPDATED, self._on_lovelace_updated
                )
        except BaseException:
            await self.stop()
            raise
        self.log.debug(
            "Rendering %s at %sx%s, %s fps", self.page_url, width, height, self.options.fps
        )

    async def wait_playable(self) -> None:
        """Wait until the media playlist lists enough segments for a player to start."""
        assert self.out_dir is not None
        assert self.encoder is not None
        while (
            await self.hass.async_add_executor_job(listed_segments, self.out_dir)
            < PLAYABLE_SEGMENTS
        ):
            if self.encoder.returncode is not None:
                raise RuntimeError(
                    f"FFmpeg exited with code {self.encoder.returncode}: "
                    + " / ".join(self.encoder.log_tail)
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Stop everything this session started; safe to call more than once."""
        if self._unsub_lovelace is not None:
            self._unsub_lovelace()
            self._unsub_lovelace = None
        if self.encoder is not None:
            await self.encoder.stop()
        if self.capture is not None:
            await self.capture.stop()
        if self._context is not None:
            context, self._context = self._context, None
            try:
                await context.close()
            except Exception:
                self.log.debug("Browser context already closed", exc_info=True)
        if self._has_browser:
            self._has_browser = False
            self._pool.release()
        if self.out_dir is not None:
            out_dir, self.out_dir = self.out_dir, None
            await self.hass.async_add_executor_job(shutil.rmtree, out_dir, True)
        self.log.debug("Pipeline stopped")

    @callback
    def _on_lovelace_updated(self, event: Event[dict[str, Any]]) -> None:
        url_path = event.data.get("url_path") or "lovelace"
        if self.options.dashboard.split("/", 1)[0] == url_path and self._page is not None:
            self.log.debug("Dashboard configuration changed: reloading")
            self.hass.async_create_background_task(
                self._reload(), f"dashboard_cast reload {self.session_id}"
            )

    async def _reload(self) -> None:
        if self._page is not None:
            try:
                await self._page.reload(wait_until="commit")
            except Exception:
                self.log.debug("Reload failed", exc_info=True)
