"""Base entity: shown on the cast device it streams to."""

from __future__ import annotations

from typing import override

from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.device import async_entity_id_to_device
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.event import async_track_state_change_event

from .cast_target import is_available
from .data import DashboardCastConfigEntry


class DashboardCastEntity(Entity):
    """Linked to the Google Cast integration's device of the target, if it has one.

    A device belongs to a single config entry, so we link to it through
    device_entry rather than claim it with its identifiers in device_info.
    """

    _attr_has_entity_name = True

    def __init__(self, hass: HomeAssistant, entry: DashboardCastConfigEntry, key: str) -> None:
        """Initialize for one entry."""
        self._entry = entry
        self._streamer = entry.runtime_data.streamer
        self._controller = entry.runtime_data.controller
        # The entry's id, not its unique id: reconfigure moves the entry to another
        # cast device (another unique id), and the entities stay the same.
        self._attr_unique_id = f"{entry.entry_id}-{key}"
        self.device_entry = async_entity_id_to_device(hass, entry.runtime_data.target_entity_id)

    @property
    @override
    def available(self) -> bool:
        """Available while the cast device is: nothing can be shown on one that is gone."""
        return is_available(self.hass.states.get(self._entry.runtime_data.target_entity_id))

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the session, its pipeline, and whether the cast device is there."""
        await super().async_added_to_hass()
        self.async_on_remove(self._controller.async_add_listener(self.async_write_ha_state))
        self.async_on_remove(
            async_track_state_change_event(
                self.hass,
                self._entry.runtime_data.target_entity_id,
                self._cast_state_changed,
            )
        )

    @callback
    def _cast_state_changed(self, event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if is_available(old) != is_available(new):
            self.async_write_ha_state()

    # Not @override: Home Assistant 2026.10 has no such method and never calls it.
    @callback
    def async_entity_id_changed(  # type: ignore[explicit-override, unused-ignore]
        self, old_entity_id: str
    ) -> None:
        """Take a new entity_id in place (Home Assistant 2026.11 and newer).

        Nothing here is keyed on the entity_id: the session's updates keep coming.
        """
