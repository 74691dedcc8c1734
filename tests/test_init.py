"""Setting up and unloading an entry."""

from __future__ import annotations

from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er


async def test_setup_and_unload(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """An entry loads with its target resolved and unloads cleanly."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.target_entity_id == living_room_tv.entity_id

    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.NOT_LOADED


async def test_target_follows_entity_rename(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """The entry stores the registry id, so a renamed entity is still found."""
    er.async_get(hass).async_update_entity(
        living_room_tv.entity_id, new_entity_id="media_player.big_screen"
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.runtime_data.target_entity_id == "media_player.big_screen"


async def test_missing_target_fails_setup(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """A deleted cast entity fails setup with a reason, and keeps the entry."""
    er.async_get(hass).async_remove(living_room_tv.entity_id)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert config_entry.error_reason_translation_key == "target_missing"
    assert hass.config_entries.async_get_entry(config_entry.entry_id) is config_entry
