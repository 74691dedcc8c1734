"""The media player a user touches: turn on, stop, play a dashboard, pick a source."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.media_player import MediaPlayerEntity
from homeassistant.components.media_player.browse_media import BrowseMedia
from homeassistant.components.media_player.const import (
    MediaClass,
    MediaPlayerEntityFeature,
    MediaPlayerState,
)
from homeassistant.core import HomeAssistant, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import ATTR_CALLBACK_URL, ATTR_SESSION_ID, ATTR_STREAM_URL, DOMAIN
from .dashboard import async_list_views, dashboard_title, list_dashboards
from .dashboard_cast_pipeline.page import is_url
from .dashboard_cast_pipeline.redact import url_for_logs
from .data import DashboardCastConfigEntry
from .entity import DashboardCastEntity
from .fields import start_arguments, validated_dashboard
from .url_policy import async_caller_is_trusted, check_callback_url, check_may_show

PARALLEL_UPDATES = 0
MEDIA_TYPE_DASHBOARD = "dashboard"
ROOT_ID = "dashboards"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the media player."""
    async_add_entities([DashboardCastPlayer(hass, entry)])


class DashboardCastPlayer(DashboardCastEntity, MediaPlayerEntity):
    """Shows a dashboard on the cast device; its state follows the session."""

    _attr_translation_key = "dashboard"
    _attr_supported_features = (
        MediaPlayerEntityFeature.TURN_ON
        | MediaPlayerEntityFeature.TURN_OFF
        | MediaPlayerEntityFeature.STOP
        | MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.SELECT_SOURCE
        | MediaPlayerEntityFeature.BROWSE_MEDIA
    )
    _attr_media_content_type = MEDIA_TYPE_DASHBOARD

    def __init__(self, hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
        """Initialize."""
        super().__init__(hass, entry, "player")

    @property
    @override
    def state(self) -> MediaPlayerState:
        """Off, buffering, playing on the TV, or idle (stopped by the device)."""
        return self._controller.state

    @property
    @override
    def media_content_id(self) -> str | None:
        """The dashboard shown (never the stream URL, nor credentials in its URL)."""
        showing = self._controller.showing
        return url_for_logs(showing) if showing is not None else None

    @property
    @override
    def media_title(self) -> str | None:
        """The title of the page shown now (of a rotation: the one on screen), and its view's."""
        return self._controller.showing_title

    @property
    @override
    def source_list(self) -> list[str]:
        """The dashboards of this instance, by title."""
        return [info.title for info in list_dashboards(self.hass)]

    @property
    @override
    def source(self) -> str | None:
        """The dashboard shown, by title, if it is one of ours."""
        showing = self._controller.showing
        if showing is None or is_url(showing):
            return None
        return dashboard_title(self.hass, showing)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any]:
        """The session id and why the last session ended (the stream URL stays secret)."""
        current = self._controller.current
        return {
            ATTR_SESSION_ID: current.identity.session_id if current is not None else None,
            "end_reason": self._controller.end_reason,
            "last_error": self._controller.last_error,
        }

    @property
    @override
    def media_image_hash(self) -> str | None:
        """Changes with every new rendered frame."""
        session = self._streamer.session
        if session is None or not session.stats.frames_in:
            return None
        return f"{session.session_id}-{session.stats.frames_in}"

    @override
    async def async_get_media_image(self) -> tuple[bytes | None, str | None]:
        """The latest rendered frame."""
        session = self._streamer.session
        frame = await session.frame() if session is not None else None
        return (frame, "image/jpeg") if frame is not None else (None, None)

    @override
    async def async_turn_on(self) -> None:
        """Show the default dashboard."""
        self._controller.async_request_start()

    @override
    async def async_turn_off(self) -> None:
        """End the session and quit the cast app."""
        await self._controller.async_request_stop()

    @override
    async def async_media_stop(self) -> None:
        """End the session and quit the cast app."""
        await self._controller.async_request_stop()

    @override
    async def async_play_media(self, media_type: str, media_id: str, **kwargs: Any) -> None:
        """Show a dashboard path or an http(s) URL (another site: as url_policy allows)."""
        dashboard = validated_dashboard(media_id)
        check_may_show(self._entry, dashboard, trusted=await self._caller_is_trusted())
        self._controller.async_request_start(dashboard)

    @override
    async def async_select_source(self, source: str) -> None:
        """Show the dashboard with this title."""
        for info in list_dashboards(self.hass):
            if info.title == source:
                self._controller.async_request_start(info.url_path)
                return
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_source",
            translation_placeholders={"source": source},
        )

    @override
    async def async_browse_media(
        self, media_content_type: str | None = None, media_content_id: str | None = None
    ) -> BrowseMedia:
        """Dashboards, and the views of each."""
        if media_content_id in (None, ROOT_ID):
            return BrowseMedia(
                media_class=MediaClass.DIRECTORY,
                media_content_id=ROOT_ID,
                media_content_type=MEDIA_TYPE_DASHBOARD,
                title="Dashboards",
                can_play=False,
                can_expand=True,
                children=[
                    _item(info.url_path, info.title, can_expand=True)
                    for info in list_dashboards(self.hass)
                ],
                children_media_class=MediaClass.DIRECTORY,
            )
        url_path = validated_dashboard(media_content_id).split("/", 1)[0]
        views = await async_list_views(self.hass, url_path)
        return BrowseMedia(
            media_class=MediaClass.DIRECTORY,
            media_content_id=url_path,
            media_content_type=MEDIA_TYPE_DASHBOARD,
            title=dashboard_title(self.hass, url_path),
            can_play=True,
            can_expand=True,
            children=[_item(view.url_path, view.title, can_expand=False) for view in views],
            children_media_class=MediaClass.APP,
        )

    async def async_start_session(self, **fields: Any) -> ServiceResponse:
        """The dashboard_cast.start action: schedule a session, answer its id and URL.

        The caller may see the stream: it shows a dashboard of this instance as
        the read-only user, or a site the caller may show (url_policy.py).
        """
        dashboards, arguments = start_arguments(fields)
        trusted = await self._caller_is_trusted()
        for dashboard in dashboards:
            check_may_show(self._entry, dashboard, trusted=trusted)
        if (callback_url := arguments.get(ATTR_CALLBACK_URL)) is not None:
            check_callback_url(self._entry, callback_url)
        request = self._controller.async_request_start(*dashboards, **arguments)
        return {
            ATTR_SESSION_ID: request.identity.session_id,
            ATTR_STREAM_URL: self._controller.stream_url,
        }

    async def _caller_is_trusted(self) -> bool:
        """The user behind the call being handled is an administrator, or there is none."""
        context = self._context
        return await async_caller_is_trusted(
            self.hass, context.user_id if context is not None else None
        )

    async def async_stop_session(self) -> None:
        """The dashboard_cast.stop action."""
        await self._controller.async_request_stop()


def _item(content_id: str, title: str, *, can_expand: bool) -> BrowseMedia:
    return BrowseMedia(
        media_class=MediaClass.DIRECTORY if can_expand else MediaClass.APP,
        media_content_id=content_id,
        media_content_type=MEDIA_TYPE_DASHBOARD,
        title=title,
        can_play=True,
        can_expand=can_expand,
    )
