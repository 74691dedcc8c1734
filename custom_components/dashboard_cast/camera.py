"""Camera: a preview of what the TV shows, and the live stream while it runs."""

from __future__ import annotations

from typing import override

from homeassistant.components.camera import Camera
from homeassistant.components.camera.const import CameraEntityFeature
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .data import DashboardCastConfigEntry
from .entity import DashboardCastEntity
from .streamer import stream_url

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the preview camera."""
    async_add_entities([DashboardPreviewCamera(hass, entry)])


class DashboardPreviewCamera(DashboardCastEntity, Camera):
    """The latest rendered frame; the HLS stream while a session runs."""

    _attr_translation_key = "preview"
    _attr_supported_features = CameraEntityFeature.STREAM

    def __init__(self, hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
        """Initialize."""
        DashboardCastEntity.__init__(self, hass, entry, "preview")
        Camera.__init__(self)

    @property
    @override
    def is_streaming(self) -> bool:
        """Tell whether a session runs."""
        return self._streamer.session is not None

    @override
    async def async_camera_image(
        self, width: int | None = None, height: int | None = None
    ) -> bytes | None:
        """Return the latest rendered frame (JPEG)."""
        session = self._streamer.session
        return await session.frame() if session is not None else None

    @override
    async def stream_source(self) -> str | None:
        """Return the session's HLS URL while one runs."""
        session = self._streamer.session
        return stream_url(self.hass, self._entry, session.token) if session is not None else None
