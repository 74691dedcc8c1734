"""Setting up and unloading an entry."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import CONF_RENDERER_SECRET, CONF_RENDERER_URL
from custom_components.dashboard_cast.streamer import DATA_DOMAIN, instance_work_dir
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component


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


async def test_entry_follows_the_cast_entity_while_loaded(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """Renamed: the entry reloads onto the new id. Moved to another device: ours move along."""
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    registry = er.async_get(hass)
    registry.async_update_entity(living_room_tv.entity_id, new_entity_id="media_player.big_screen")
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.target_entity_id == "media_player.big_screen"

    cast_entry = hass.config_entries.async_entries("cast")[0]
    other = dr.async_get(hass).async_get_or_create(
        config_entry_id=cast_entry.entry_id, identifiers={("cast", "another-device")}
    )
    registry.async_update_entity("media_player.big_screen", device_id=other.id)
    await hass.async_block_till_done()
    ours = er.async_entries_for_config_entry(registry, config_entry.entry_id)
    assert ours
    assert {entity.device_id for entity in ours} == {other.id}


@pytest.mark.usefixtures("socket_enabled")
async def test_silent_renderer_retries_setup(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """An entry rendering on a renderer that does not answer retries, with the reason."""
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            **config_entry.options,
            CONF_RENDERER_URL: "http://127.0.0.1:9",
            CONF_RENDERER_SECRET: "s" * 16,
        },
    )
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert config_entry.error_reason_translation_key == "renderer_not_ready"
    assert "does not answer yet" in (config_entry.reason or "")


async def test_start_sweeps_what_a_crash_left(hass: HomeAssistant) -> None:
    """Session folders from before a crash are gone once the integration loads."""
    work_dir = instance_work_dir(hass)
    leftover = work_dir / "dashboard_cast_abc123"
    leftover.mkdir(parents=True, exist_ok=True)
    (leftover / "segment_00001.m4s").write_bytes(b"old")
    assert await async_setup_component(hass, "dashboard_cast", {})
    assert work_dir.is_dir()
    assert list(work_dir.iterdir()) == []
    assert hass.data[DATA_DOMAIN].work_dir == work_dir


async def test_missing_target_fails_setup(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """A deleted cast entity fails setup with a reason, and keeps the entry."""
    er.async_get(hass).async_remove(living_room_tv.entity_id)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert config_entry.error_reason_translation_key == "target_missing"
    assert "Reconfigure the entry" in (config_entry.reason or "")
    assert hass.config_entries.async_get_entry(config_entry.entry_id) is config_entry


async def test_preview_camera_joins_cast_device(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """The camera is listed on the cast integration's device, and creates none of its own."""
    cast_entry = MockConfigEntry(domain="cast")
    cast_entry.add_to_hass(hass)
    device_registry = dr.async_get(hass)
    device = device_registry.async_get_or_create(
        config_entry_id=cast_entry.entry_id,
        identifiers={("cast", living_room_tv.unique_id)},
        name="Living room TV",
    )
    entity_registry = er.async_get(hass)
    entity_registry.async_update_entity(living_room_tv.entity_id, device_id=device.id)

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    camera_id = entity_registry.async_get_entity_id(
        "camera", "dashboard_cast", f"{config_entry.entry_id}-preview"
    )
    assert camera_id is not None
    camera = entity_registry.async_get(camera_id)
    assert camera is not None
    assert camera.device_id == device.id
    assert camera_id == "camera.living_room_tv_dashboard_preview"
    # The cast device stays the cast integration's; we register no device.
    assert device_registry.async_get(device.id).config_entry_id == cast_entry.entry_id
    assert dr.async_entries_for_config_entry(device_registry, config_entry.entry_id) == []


async def test_preview_camera_without_cast_device(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """A cast entity with no device still gets its camera, on no device."""
    er.async_get(hass).async_update_entity(living_room_tv.entity_id, device_id=None)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    entity_registry = er.async_get(hass)
    camera_id = entity_registry.async_get_entity_id(
        "camera", "dashboard_cast", f"{config_entry.entry_id}-preview"
    )
    assert camera_id is not None
    camera = entity_registry.async_get(camera_id)
    assert camera is not None
    assert camera.device_id is None


async def test_migration_gives_old_entry_a_webhook_and_secret(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry
) -> None:
    """An entry from 1.1 gets its webhook id and callback secret, and keeps everything else."""
    entry = MockConfigEntry(
        domain="dashboard_cast",
        unique_id=living_room_tv.unique_id,
        data={"target": living_room_tv.id},
        options={"dashboard": "dashboard-tv", "quality": "1080p", "fps": 10},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 4
    assert entry.data["target"] == living_room_tv.id
    assert len(entry.data["webhook_id"]) >= 32
    assert len(bytes.fromhex(entry.data["callback_secret"])) == 32
    assert entry.options == {"dashboard": "dashboard-tv", "quality": "1080p", "fps": 10}


async def test_migration_moves_entities_to_the_entry_id(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry
) -> None:
    """Entities of a 1.3 entry (ids from the entry's unique id) keep their entity ids."""
    entry = MockConfigEntry(
        domain="dashboard_cast",
        unique_id=living_room_tv.unique_id,
        minor_version=3,
        data={
            "target": living_room_tv.id,
            "webhook_id": "w" * 32,
            "callback_secret": "ab" * 32,
        },
    )
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        "media_player",
        "dashboard_cast",
        f"{living_room_tv.unique_id}-player",
        config_entry=entry,
        suggested_object_id="my_tv_dashboard",
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 4
    moved = registry.async_get(old.entity_id)
    assert moved is not None
    assert moved.unique_id == f"{entry.entry_id}-player"
    assert hass.states.get("media_player.my_tv_dashboard") is not None


async def test_downgrade_is_refused(hass: HomeAssistant, living_room_tv: er.RegistryEntry) -> None:
    """An entry from a newer major version is left alone, not broken."""
    entry = MockConfigEntry(
        domain="dashboard_cast", version=2, data={"target": living_room_tv.id, "future": 1}
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.data == {"target": living_room_tv.id, "future": 1}


async def test_yaml_is_not_taken(hass: HomeAssistant) -> None:
    """Set up in the UI only: YAML (the old chromium_path) gets Home Assistant's notice."""
    assert await async_setup_component(
        hass, "dashboard_cast", {"dashboard_cast": {"chromium_path": "/usr/bin/chromium"}}
    )
    issue = ir.async_get(hass).async_get_issue("homeassistant", "config_entry_only_dashboard_cast")
    assert issue is not None
