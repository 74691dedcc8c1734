"""Snapshots of what users and support see: the entities' states and the diagnostics.

Of the minimum Home Assistant only (scripts/test): a newer one may add fields
to its registry entries.
"""

from __future__ import annotations

from collections.abc import Generator
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from .test_media_player import player  # noqa: F401


@pytest.fixture
def only_media_player() -> Generator[None]:
    """Load the media player platform alone (before the entry is set up)."""
    with patch("custom_components.dashboard_cast.PLATFORMS", [Platform.MEDIA_PLAYER]):
        yield


@pytest.mark.usefixtures("only_media_player", "player")
async def test_media_player_entity(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    """The media player's registry entry and state, with no session."""
    await snapshot_platform(hass, entity_registry, snapshot, config_entry.entry_id)


@pytest.mark.usefixtures("player")
async def test_diagnostics(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics of an idle entry: redacted, and what the system has (versions left out)."""
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, config_entry)
    assert diagnostics == snapshot(exclude=props("target", "ffmpeg", "playwright"))
