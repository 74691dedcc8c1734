"""Dashboard Cast: show a Home Assistant dashboard on a Chromecast as a live video stream."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import entity_registry as er

from .const import CONF_TARGET, DOMAIN
from .data import DashboardCastConfigEntry, DashboardCastData


async def async_setup_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> bool:
    """Set up a cast target."""
    target = er.async_resolve_entity_id(er.async_get(hass), entry.data[CONF_TARGET])
    if target is None:
        # The cast entity was deleted: only a reconfigure can fix this.
        raise ConfigEntryError(translation_domain=DOMAIN, translation_key="target_missing")
    entry.runtime_data = DashboardCastData(target_entity_id=target)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> bool:
    """Unload a cast target."""
    return True
