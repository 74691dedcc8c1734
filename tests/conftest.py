"""Shared fixtures for Dashboard Cast tests."""

from __future__ import annotations

from collections.abc import Generator

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import (
    CONF_CALLBACK_SECRET,
    CONF_TARGET,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

CALLBACK_SECRET = "5e" * 32


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load custom_components/ in every test."""
    return


def register_cast_entity(hass: HomeAssistant, uuid: str, name: str) -> er.RegistryEntry:
    """Register a media_player the way the cast integration registers a device."""
    return er.async_get(hass).async_get_or_create(
        "media_player",
        "cast",
        uuid,
        suggested_object_id=name.lower().replace(" ", "_"),
        original_name=name,
    )


@pytest.fixture
def living_room_tv(hass: HomeAssistant) -> er.RegistryEntry:
    """A cast media player in the entity registry."""
    return register_cast_entity(hass, "0b0c8a5e-1111-4f4e-9a58-0123456789ab", "Living room TV")


@pytest.fixture
def kitchen_hub(hass: HomeAssistant) -> er.RegistryEntry:
    """A second cast media player."""
    return register_cast_entity(hass, "5f3d2c1b-2222-4a4a-8b8b-abcdefabcdef", "Kitchen hub")


@pytest.fixture
def config_entry(hass: HomeAssistant, living_room_tv: er.RegistryEntry) -> MockConfigEntry:
    """A Dashboard Cast entry for the living room TV, added to hass but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Living room TV",
        unique_id=living_room_tv.unique_id,
        minor_version=3,
        data={
            CONF_TARGET: living_room_tv.id,
            CONF_WEBHOOK_ID: "living-room-webhook",
            CONF_CALLBACK_SECRET: CALLBACK_SECRET,
        },
        options=DEFAULT_OPTIONS,
    )
    entry.add_to_hass(hass)
    return entry
