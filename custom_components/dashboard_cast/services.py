"""The dashboard_cast.start and dashboard_cast.stop actions, on our media players."""

from __future__ import annotations

from homeassistant.components.media_player.const import DOMAIN as MEDIA_PLAYER_DOMAIN
from homeassistant.core import HomeAssistant, SupportsResponse, callback
from homeassistant.helpers import service

from .const import DOMAIN
from .fields import START_FIELDS

SERVICE_START = "start"
SERVICE_STOP = "stop"


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the actions once for all entries."""
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_START,
        entity_domain=MEDIA_PLAYER_DOMAIN,
        schema=START_FIELDS,
        func="async_start_session",
        supports_response=SupportsResponse.OPTIONAL,
    )
    service.async_register_platform_entity_service(
        hass,
        DOMAIN,
        SERVICE_STOP,
        entity_domain=MEDIA_PLAYER_DOMAIN,
        schema=None,
        func="async_stop_session",
    )
