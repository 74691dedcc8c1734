"""The media player's sources and media browser list this instance's dashboards."""

from __future__ import annotations

from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity import Entity
from homeassistant.setup import async_setup_component

from .dashboards import TEST_DASHBOARD, TEST_TITLE, store_test_dashboard


@pytest.fixture
async def player(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    config_entry: MockConfigEntry,
    living_room_tv: er.RegistryEntry,
) -> str:
    """A loaded entry on an instance with the default dashboard and a stored one.

    Its cast device is connected (off): the player is available.
    """
    hass.states.async_set(living_room_tv.entity_id, "off")
    store_test_dashboard(hass_storage)
    assert await async_setup_component(hass, "lovelace", {})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    entity_id = er.async_get(hass).async_get_entity_id(
        "media_player", "dashboard_cast", f"{config_entry.entry_id}-player"
    )
    assert entity_id is not None
    return entity_id


async def test_sources_are_dashboards(hass: HomeAssistant, player: str) -> None:
    """Sources: the default dashboard first, then the others by title; off, no session."""
    state = hass.states.get(player)
    assert state is not None
    assert state.state == "off"
    assert state.attributes["source_list"] == ["Overview", TEST_TITLE]
    assert state.attributes["session_id"] is None


async def test_browse_dashboards_and_views(
    hass: HomeAssistant, player: str, hass_ws_client: Any
) -> None:
    """The media browser lists dashboards, and a dashboard lists its views."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "media_player/browse_media", "entity_id": player})
    root = (await client.receive_json())["result"]
    assert [child["title"] for child in root["children"]] == ["Overview", TEST_TITLE]
    assert all(child["can_play"] and child["can_expand"] for child in root["children"])

    await client.send_json_auto_id(
        {
            "type": "media_player/browse_media",
            "entity_id": player,
            "media_content_id": TEST_DASHBOARD,
            "media_content_type": "dashboard",
        }
    )
    board = (await client.receive_json())["result"]
    assert board["title"] == TEST_TITLE
    assert [(child["media_content_id"], child["title"]) for child in board["children"]] == [
        (f"{TEST_DASHBOARD}/kitchen", "Kitchen"),
        (f"{TEST_DASHBOARD}/1", "Hall"),
    ]
    assert not any(child["can_expand"] for child in board["children"])

    # The default dashboard has no stored views yet: the frontend makes them up.
    await client.send_json_auto_id(
        {
            "type": "media_player/browse_media",
            "entity_id": player,
            "media_content_id": "lovelace",
            "media_content_type": "dashboard",
        }
    )
    assert (await client.receive_json())["result"]["children"] == []

    await client.send_json_auto_id(
        {
            "type": "media_player/browse_media",
            "entity_id": player,
            "media_content_id": "javascript:alert(1)",
            "media_content_type": "dashboard",
        }
    )
    reply = await client.receive_json()
    assert not reply["success"]


async def test_play_media_refuses_other_schemes(hass: HomeAssistant, player: str) -> None:
    """play_media takes a dashboard path or an http(s) URL, nothing else."""
    with pytest.raises(HomeAssistantError, match="file:///etc/passwd"):
        await hass.services.async_call(
            "media_player",
            "play_media",
            {
                "entity_id": player,
                "media_content_id": "file:///etc/passwd",
                "media_content_type": "url",
            },
            blocking=True,
        )
    assert hass.states.get(player).state == "off"  # type: ignore[union-attr]


async def test_player_is_available_while_its_cast_device_is(
    hass: HomeAssistant, player: str, living_room_tv: er.RegistryEntry
) -> None:
    """The cast device goes away: so does the player (and a start on it does nothing)."""
    hass.states.async_set(living_room_tv.entity_id, "unavailable")
    await hass.async_block_till_done()
    assert hass.states.get(player).state == "unavailable"  # type: ignore[union-attr]
    await hass.services.async_call("dashboard_cast", "start", {"entity_id": player}, blocking=True)
    entry = hass.config_entries.async_entries("dashboard_cast")[0]
    assert entry.runtime_data.controller.current is None
    hass.states.async_set(living_room_tv.entity_id, "idle")
    await hass.async_block_till_done()
    assert hass.states.get(player).state == "off"  # type: ignore[union-attr]


async def test_renamed_player_keeps_following_the_session(
    hass: HomeAssistant,
    player: str,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new entity_id: the state moves, and the session's updates reach it, once.

    From Home Assistant 2026.11 the entity takes the new entity_id in place (it
    opts in); before, Home Assistant removes and adds it again.
    """
    controller = config_entry.runtime_data.controller
    listeners = len(controller._listeners)
    subscriptions = []
    add_listener = controller.async_add_listener
    monkeypatch.setattr(
        controller,
        "async_add_listener",
        lambda listener: subscriptions.append(listener) or add_listener(listener),
    )
    er.async_get(hass).async_update_entity(player, new_entity_id="media_player.renamed_tv")
    await hass.async_block_till_done()
    assert hass.states.get(player) is None
    before = hass.states.get("media_player.renamed_tv")
    assert before is not None
    assert len(controller._listeners) == listeners  # neither lost nor doubled
    in_place = hasattr(Entity, "async_entity_id_changed")
    assert len(subscriptions) == (0 if in_place else 1)
    # The session's updates go to the entity that now has the new entity_id.
    owners = {getattr(listener, "__self__", None) for listener in controller._listeners}
    assert "media_player.renamed_tv" in {owner.entity_id for owner in owners if owner}
