"""Rotating views and show-then-return, end to end: what the TV's player shows.

Home Assistant's own frontend renders a stored dashboard whose views fill the
screen with one colour each; Home Assistant's cast integration drives the
emulated TV, which plays each LOAD in the playing test receiver (Shaka Player,
another origin). The colours are read off the frames the player presents.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.dashboard_cast.const import (
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    DOMAIN,
    EVENT_SESSION_ENDED,
)
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from ..cast_emulator import CastDevice
from ..dashboards import COLOUR_DASHBOARD, store_colour_dashboard
from ..receiver import ShakaReceiver
from .conftest import BLUE, RED, wait_for
from .test_cast import TV, add_player, state_of, wait_for_screen
from .test_renderer_service import SECRET, Renderer, renderer  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled")
RED_VIEW = f"{COLOUR_DASHBOARD}/red"
BLUE_VIEW = f"{COLOUR_DASHBOARD}/blue"


@pytest.fixture
def colour_storage(hass_storage: dict[str, Any]) -> None:
    """The colour dashboard in storage, before the frontend (and with it lovelace) loads."""
    store_colour_dashboard(hass_storage)


@pytest.fixture
async def colour_board(hass: HomeAssistant, colour_storage: None, base_url: str) -> None:
    """An instance that serves the colour dashboard."""
    assert await async_setup_component(hass, "lovelace", {})


def capture_counters(entry: Any) -> str:
    """What the session's capture did: to tell a stalled capture from a slow page."""
    session = entry.runtime_data.streamer.session
    capture = None if session is None else session.capture
    if capture is None:
        return "no capture"
    age = asyncio.get_running_loop().time() - capture.last_frame_at
    return (
        f"{type(capture).__name__}: {getattr(capture, 'ticks', '-')} renders, "
        f"{getattr(capture, 'pictures', '-')} pictures, {getattr(capture, 'wakes', '-')} "
        f"wakes, {capture.stats.frames_in} changed (frames in), the last {age:.1f} s ago"
    )


def title_of(hass: HomeAssistant, player: str) -> str | None:
    state = hass.states.get(player)
    assert state is not None
    title: str | None = state.attributes.get("media_title")
    return title


async def start_rotation(hass: HomeAssistant, player: str) -> None:
    """Start the red and blue views in turn, 5 s each; return once the TV plays."""
    await hass.services.async_call(
        DOMAIN,
        "start",
        {
            "entity_id": player,
            "dashboard": [RED_VIEW, BLUE_VIEW],
            "rotate_interval": {"seconds": 5},
        },
        blocking=True,
    )
    await wait_for(lambda: state_of(hass, player) == "playing")


async def test_views_take_turns_in_one_stream(
    hass: HomeAssistant,
    colour_board: None,
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
) -> None:
    """Two views in turn, twice round: the player never loads again; the title follows."""
    tv = cast_devices[TV]
    tv.receiver = receiver
    entry, player = await add_player(hass, tv, RED_VIEW)
    await start_rotation(hass, player)
    # The title follows the stream, which is seconds ahead of the TV's picture.
    assert title_of(hass, player) == "Colours: Red"
    screen = tv.screen
    assert screen is not None
    await wait_for_screen(tv, RED)
    session = entry.runtime_data.streamer.session
    assert session is not None
    page = session._page  # type: ignore[attr-defined]
    await page.evaluate("window.__loaded_once = true")
    for colour, title in ((BLUE, "Colours: Blue"), (RED, "Colours: Red"), (BLUE, "Colours: Blue")):
        await wait_for_screen(tv, colour)
        await wait_for(lambda title=title: title_of(hass, player) == title, timeout=5)
    assert len(tv.loads) == 1  # one LOAD: the TV kept playing the same stream
    assert tv.screen is screen
    state = await screen.state()
    assert state.error is None
    assert state.recovered == []
    assert state.playing
    # From view to view the frontend navigated, as a click does: no reload, no new login.
    assert await page.evaluate("window.__loaded_once === true")
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    assert tv.screen is None


async def test_a_doorbell_view_returns_to_the_dashboard(
    hass: HomeAssistant,
    colour_board: None,
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
) -> None:
    """A start with duration and return: the TV shows it, then what it showed before."""
    tv = cast_devices[TV]
    tv.receiver = receiver
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    entry, player = await add_player(hass, tv, RED_VIEW)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    # It once stayed on the frontend's launch screen: say what the capture did, should it again.
    await wait_for_screen(tv, RED, also=lambda: capture_counters(entry))
    await hass.services.async_call(
        DOMAIN,
        "start",
        {"entity_id": player, "dashboard": BLUE_VIEW, "duration": {"seconds": 8}, "return": True},
        blocking=True,
    )
    await wait_for_screen(tv, BLUE)
    assert title_of(hass, player) == "Colours: Blue"
    await wait_for_screen(tv, RED)
    await wait_for(lambda: state_of(hass, player) == "playing")
    assert title_of(hass, player) == "Colours: Red"
    assert [media["metadata"]["title"] for media in tv.loads] == [
        "Colours: Red",
        "Colours: Blue",
        "Colours: Red",
    ]
    assert tv.stops == 0  # each stream replaced the last: the app never quit in between
    assert [event.data["reason"] for event in ended] == ["replaced", "duration"]
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    assert tv.stops == 1


async def test_views_take_turns_on_the_renderer(
    hass: HomeAssistant,
    colour_board: None,
    renderer: Renderer,  # noqa: F811
    cast_devices: dict[str, CastDevice],
) -> None:
    """A renderer service's session shows the next view too, in the stream it serves."""
    tv = cast_devices[TV]
    _, player = await add_player(
        hass, tv, RED_VIEW, **{CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: SECRET}
    )
    await start_rotation(hass, player)
    assert tv.loaded_url is not None
    assert tv.loaded_url.startswith(renderer.base)
    await wait_for_screen(tv, RED)
    await wait_for_screen(tv, BLUE)
    await wait_for(lambda: title_of(hass, player) == "Colours: Blue", timeout=5)
    assert len(tv.loads) == 1
