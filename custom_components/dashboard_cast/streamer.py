"""At most one stream session per config entry (cast target)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
import hashlib
from pathlib import Path
import shutil
import tempfile
from typing import Any

from yarl import URL

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError, get_url
from homeassistant.util.hass_dict import HassKey

from .auth import async_create_session_token, async_revoke_session_token
from .cast_target import fitted_quality
from .const import (
    CONF_BASE_URL,
    CONF_DASHBOARD,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from .dashboard_cast_pipeline.browser import BrowserPool
from .dashboard_cast_pipeline.client import RemoteSession, RendererClient
from .dashboard_cast_pipeline.hls import StreamRegistry, stream_path
from .dashboard_cast_pipeline.options import Quality
from .dashboard_cast_pipeline.page import is_url
from .dashboard_cast_pipeline.session import (
    RenderSession,
    SessionIdentity,
    StreamOptions,
    StreamSession,
)
from .dashboard_cast_pipeline.watchdog import PipelineStats
from .url_policy import allowed_origins


@dataclass(slots=True)
class DomainData:
    """Shared by all entries: one browser, one token registry, the FFmpeg binary."""

    pool: BrowserPool
    registry: StreamRegistry
    ffmpeg_binary: str
    can_render: bool  # Playwright is importable: the in-process renderer works here
    work_dir: Path  # this instance's session folders, emptied when Home Assistant starts


def instance_work_dir(hass: HomeAssistant) -> Path:
    """Where this Home Assistant's sessions keep their files: its own folder in temp."""
    instance = hashlib.sha256(hass.config.config_dir.encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"dashboard_cast-{instance}"


def sweep_work_dir(work_dir: Path) -> None:
    """Remove what a crashed Home Assistant left behind; start with an empty folder."""
    shutil.rmtree(work_dir, ignore_errors=True)
    # Others may pass through (Chromium's own account, to its home in here),
    # not list it; what is inside is private to its owner.
    work_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
    work_dir.chmod(0o711)  # whatever the umask


DATA_DOMAIN: HassKey[DomainData] = HassKey(DOMAIN)
EVENT_LOVELACE_UPDATED = "lovelace_updated"


def local_hass_url(hass: HomeAssistant) -> str:
    """Home Assistant as Chromium on this machine reaches it: over loopback."""
    api = hass.config.api
    if api is None:
        return get_url(hass, allow_external=False)
    return f"{'https' if api.use_ssl else 'http'}://127.0.0.1:{api.port}"


def remote_hass_url(hass: HomeAssistant) -> str:
    """Home Assistant as a renderer on another machine reaches it: the internal URL."""
    try:
        return get_url(hass, allow_external=False, allow_cloud=False)
    except NoURLAvailableError:
        return local_hass_url(hass)


def stream_base_url(hass: HomeAssistant, entry: ConfigEntry[Any]) -> str | None:
    """Where a device on the LAN reaches the stream: the renderer, or Home Assistant."""
    if renderer := entry.options.get(CONF_RENDERER_URL):
        return str(renderer).rstrip("/")
    if base := entry.options.get(CONF_BASE_URL):
        return str(base).rstrip("/")
    try:
        return get_url(hass, allow_external=False, allow_cloud=False)
    except NoURLAvailableError:
        return None


def page_address(hass_url: str, dashboard: str) -> str:
    """The URL of a dashboard path under hass_url; a URL as it is."""
    return dashboard if is_url(dashboard) else f"{hass_url}/{dashboard}"


def stream_url(hass: HomeAssistant, entry: ConfigEntry[Any], token: str) -> str | None:
    """The master playlist's URL as a device on the LAN reaches it."""
    base = stream_base_url(hass, entry)
    return None if base is None else base + stream_path(token)


class TargetStreamer:
    """Start, replace and stop the stream of one cast target, one at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        data: DomainData,
        target: str,
        *,
        on_change: Callable[[], None],
        on_failure: Callable[[SessionIdentity, str], None],
    ) -> None:
        """Initialize with nothing running.

        on_change(): a session started or stopped. on_failure(identity, error):
        the watchdog gave up on that session's pipeline.
        """
        self._hass = hass
        self._entry = entry
        self._data = data
        self.target = target
        self._lock = asyncio.Lock()
        self.on_change = on_change
        self.on_failure = on_failure
        self.session: RenderSession | None = None
        self.last_stats: PipelineStats | None = None  # of the session that ran last
        self._unsub_lovelace: CALLBACK_TYPE | None = None
        self._token_id: str | None = None  # the running session's refresh token

    @property
    def can_render(self) -> bool:
        """Tell whether a stream can be rendered at all: by the renderer, or in here."""
        return bool(self._entry.options.get(CONF_RENDERER_URL)) or self._data.can_render

    @property
    def renderer(self) -> RendererClient | None:
        """A client of the entry's renderer service, if it renders on one."""
        url = self._entry.options.get(CONF_RENDERER_URL)
        if not url:
            return None
        return RendererClient(
            async_get_clientsession(self._hass), url, self._entry.options[CONF_RENDERER_SECRET]
        )

    def default_options(self) -> StreamOptions:
        """The entry's options as stream options."""
        options = {**DEFAULT_OPTIONS, **self._entry.options}
        return StreamOptions.from_values(options[CONF_DASHBOARD], options)

    async def async_start(
        self,
        identity: SessionIdentity | None = None,
        *,
        later: Sequence[str] = (),
        **overrides: Any,
    ) -> RenderSession:
        """Start a session, replacing the running one; return once it renders.

        later: the pages async_show will show in this session (rotating views).
        """
        options = replace(self.default_options(), **overrides)
        needs_login = any(not is_url(page) for page in (options.dashboard, *later))
        if options.quality is Quality.AUTO:
            options = replace(options, quality=fitted_quality(self._hass, self.target))
        if identity is None:
            identity = SessionIdentity(self.target)
        async with self._lock:
            await self._stop_locked()
            refresh_token = None
            renderer = self.renderer
            if renderer is not None and needs_login and not await renderer.may_carry_logins():
                raise HomeAssistantError(
                    translation_domain=DOMAIN,
                    translation_key="renderer_insecure",
                    translation_placeholders={"renderer": renderer.base},
                )
            if needs_login:
                token = await async_create_session_token(self._hass)
                self._token_id, refresh_token = token.id, token.token
            session: RenderSession
            if renderer is not None:
                hass_url = remote_hass_url(self._hass)
                session = RemoteSession(
                    renderer,
                    options,
                    identity,
                    page_address(hass_url, options.dashboard),
                    None if refresh_token is None else hass_url,
                    refresh_token,
                    on_failure=lambda error: self.on_failure(identity, error),
                    allowed_origins=allowed_origins(self._entry),
                )
            else:
                session = StreamSession(
                    self._data.pool,
                    self._data.ffmpeg_binary,
                    options,
                    identity,
                    local_hass_url(self._hass),
                    refresh_token,
                    on_failure=lambda error: self.on_failure(identity, error),
                    temp_root=self._data.work_dir,
                    registry=self._data.registry,
                    allowed_origins=allowed_origins(self._entry),
                )
            self.last_stats = session.stats
            try:
                await session.start()
            except BaseException:
                self._revoke_token()
                raise
            self.session = session
            if needs_login:
                self._unsub_lovelace = self._hass.bus.async_listen(
                    EVENT_LOVELACE_UPDATED, self._on_lovelace_updated
                )
        self._notify()
        return session

    async def async_show(self, dashboard: str) -> None:
        """Show another page in the running session; the stream and the player go on."""
        async with self._lock:
            session = self.session
            if session is None:
                return
            if self.renderer is not None:  # the renderer knows URLs, not paths
                dashboard = page_address(remote_hass_url(self._hass), dashboard)
            await session.show(dashboard)

    async def async_stop(self) -> None:
        """Stop the running session, if any."""
        async with self._lock:
            stopped = await self._stop_locked()
        if stopped:
            self._notify()

    async def _stop_locked(self) -> bool:
        session, self.session = self.session, None
        if self._unsub_lovelace is not None:
            self._unsub_lovelace()
            self._unsub_lovelace = None
        if session is None:
            return False
        await session.stop()  # revokes the URL before anything is torn down
        self._revoke_token()
        return True

    def _revoke_token(self) -> None:
        """The session's login dies with it."""
        if self._token_id is not None:
            async_revoke_session_token(self._hass, self._token_id)
            self._token_id = None

    @callback
    def _on_lovelace_updated(self, event: Event[dict[str, Any]]) -> None:
        """The dashboard shown changed its configuration: reload the page."""
        session = self.session
        url_path = event.data.get("url_path") or "lovelace"
        if session is None:
            return
        shown = session.options.dashboard
        if is_url(shown):  # a renderer shows Home Assistant's pages by their URL
            address = URL(shown)
            if address.origin() != URL(remote_hass_url(self._hass)).origin():
                return
            shown = address.path.lstrip("/")
        if shown.split("/", 1)[0] == url_path:
            self._hass.async_create_background_task(
                session.reload(), f"dashboard_cast reload {session.session_id}"
            )

    def _notify(self) -> None:
        self.on_change()
