"""Base entity: attached to the cast device it streams to."""

from __future__ import annotations

from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity

from .data import DashboardCastConfigEntry


class DashboardCastEntity(Entity):
    """Shares the cast device of the target, so it shows up on that device's page."""

    _attr_has_entity_name = True

    def __init__(self, entry: DashboardCastConfigEntry, key: str) -> None:
        """Initialize for one entry."""
        self._entry = entry
        self._streamer = entry.runtime_data.streamer
        self._attr_unique_id = f"{entry.unique_id}-{key}"

    async def async_added_to_hass(self) -> None:
        """Attach to the cast device and follow the session."""
        await super().async_added_to_hass()
        self.async_on_remove(self._streamer.async_add_listener(self.async_write_ha_state))

    @property
    def device_info(self) -> DeviceInfo | None:
        """The cast device of the target entity, if it has one."""
        target = er.async_get(self.hass).async_get(self._entry.runtime_data.target_entity_id)
        if target is None or target.device_id is None:
            return None
        device = dr.async_get(self.hass).async_get(target.device_id)
        if device is None:
            return None
        return DeviceInfo(identifiers=device.identifiers)
