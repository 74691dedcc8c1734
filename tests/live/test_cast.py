"""Start, watch and stop casts end to end: emulated Chromecasts driven by Home Assistant's cast."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from io import BytesIO
import logging
import socket
from typing import Any

from aiohttp import ClientSession
from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_FAILED,
    EVENT_SESSION_STARTED,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.hls import HLS_CONTENT_TYPE
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er

from ..cast_emulator import CastDevice
from ..loopback import loopback
from ..media import browser_processes, close_to, pipeline_processes, session_folders
from .conftest import BLUE, RED, ColourPage, add_dashboard_cast, cast_entity_id, wait_for

pytestmark = pytest.mark.usefixtures("socket_enabled")
TV = loopback(2)
HUB = loopback(3)


def player_id(hass: HomeAssistant, entry_id: str) -> str:
    """Our media player of an entry."""
    entity_id = er.async_get(hass).async_get_entity_id("media_player", DOMAIN, f"{entry_id}-player")
    assert entity_id is not None
    return entity_id


async def add_player(
    hass: HomeAssistant, device: CastDevice, dashboard: str, **options: Any
) -> tuple[MockConfigEntry, str]:
    """A loaded entry for the device, and its media player."""
    entry = await add_dashboard_cast(hass, device, dashboard, **options)
    return entry, player_id(hass, entry.entry_id)


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def wait_for_screen(
    device: CastDevice,
    colour: tuple[int, int, int],
    *,
    centre: bool = False,
    tolerance: int = 24,
    also: Callable[[], object] | None = None,
) -> None:
    """Until the emulated TV decodes the colour from the stream it plays (centre: in its middle).

    A new LOAD's player presents no frame at first: not yet, rather than a failure.
    also(): more to tell if it fails (the capture's counters, say).
    """

    seen: object = "no stream loaded"

    async def shows_colour() -> bool:
        nonlocal seen
        if device.loaded_url is None:
            return False
        if device.screen is not None:
            seen = await device.screen.state()
            if seen.colour is None:
                return False
        seen = await device.screen_colour(centre=centre)
        return close_to(seen, colour, tolerance)

    try:
        async with asyncio.timeout(20):
            while not await shows_colour():
                await asyncio.sleep(0.3)
    except TimeoutError:
        more = f"; {also()}" if also is not None else ""
        pytest.fail(f"{device.name} did not show {colour} within 20 s; last seen: {seen}{more}")


async def test_start_action_casts_dashboard_and_stop_quits(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """dashboard_cast.start: the TV plays our HLS stream and shows the page; stop quits."""
    caplog.set_level(logging.DEBUG, logger="custom_components.dashboard_cast")  # routine lines
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    assert state_of(hass, player) == "off"
    started = async_capture_events(hass, EVENT_SESSION_STARTED)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)

    response: Any = await hass.services.async_call(
        DOMAIN, "start", {"entity_id": player}, blocking=True, return_response=True
    )
    answer = response[player]
    assert answer["stream_url"].startswith(base_url + "/api/dashboard_cast/")
    assert state_of(hass, player) == "buffering"  # scheduled, not yet on the TV
    await wait_for(lambda: state_of(hass, player) == "playing")

    media = tv.loads[-1]
    assert media["contentType"] == HLS_CONTENT_TYPE
    assert media["streamType"] == "LIVE"
    assert media["hlsVideoSegmentFormat"] == "fmp4"
    assert media["contentId"].split("?")[0] == answer["stream_url"]
    assert media["metadata"]["title"] == "127.0.0.1"
    assert media["metadata"]["thumb"].endswith("/thumbnail.jpg")
    await wait_for_screen(tv, RED)
    colour_page.colour = "#0000ff"
    await wait_for_screen(tv, BLUE)

    attributes = hass.states.get(player).attributes  # type: ignore[union-attr]
    assert attributes["session_id"] == answer["session_id"]
    assert answer["stream_url"] not in str(attributes)
    assert attributes["media_content_id"] == colour_page.url
    assert len(started) == 1
    assert started[0].data["session_id"] == answer["session_id"]
    assert started[0].data["target"] == cast_entity_id(hass, tv)

    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    assert state_of(hass, player) == "off"
    assert tv.stops == 1
    assert tv.app is None
    assert "ffmpeg" not in pipeline_processes().values()
    assert [event.data["reason"] for event in ended] == ["stopped"]
    async with ClientSession() as http, http.get(answer["stream_url"]) as resp:
        assert resp.status == 404

    # Every line of ours names the session, its target and dashboard; none the token.
    token = answer["stream_url"].split("/")[-2]
    ours = [r for r in caplog.records if r.name.startswith("custom_components.dashboard_cast")]
    session_lines = [r.getMessage() for r in ours if answer["session_id"] in r.getMessage()]
    assert any("Starting" in line for line in session_lines)
    assert any("Playing on" in line for line in session_lines)
    assert any("Ended: stopped" in line for line in session_lines)
    assert all(cast_entity_id(hass, tv) in line for line in session_lines)
    assert not any(token in r.getMessage() for r in ours)
    # Home Assistant's cast integration found no cast platform of ours to choke on.
    assert "Error processing cast platform" not in caplog.text


async def test_media_card_turn_on_play_media_select_source(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """turn_on shows the default dashboard; play_media and select_source replace it."""
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)

    await hass.services.async_call("media_player", "turn_on", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for_screen(tv, RED)

    blue_url = colour_page.url + "?blue"
    colour_page.colour = "#0000ff"
    await hass.services.async_call(
        "media_player",
        "play_media",
        {"entity_id": player, "media_content_id": blue_url, "media_content_type": "url"},
        blocking=True,
    )
    await wait_for(
        lambda: (
            state_of(hass, player) == "playing"
            # Query values are shown masked: they may hold a token.
            and hass.states.get(player).attributes["media_content_id"] == blue_url + "=***"
        )  # type: ignore[union-attr]
    )
    await wait_for_screen(tv, BLUE)
    assert [event.data["reason"] for event in ended] == ["replaced"]
    assert list(pipeline_processes().values()).count("ffmpeg") == 1

    state = hass.states.get(player)
    assert state is not None
    assert state.attributes["source_list"][0] == "Overview"
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "media_player",
            "select_source",
            {"entity_id": player, "source": "No such dashboard"},
            blocking=True,
        )
    await hass.services.async_call(
        "media_player",
        "select_source",
        {"entity_id": player, "source": "Overview"},
        blocking=True,
    )
    await wait_for(
        lambda: (
            state_of(hass, player) == "playing"
            and hass.states.get(player).attributes["media_content_id"] == "lovelace"
        )  # type: ignore[union-attr]
    )
    assert hass.states.get(player).attributes["source"] == "Overview"  # type: ignore[union-attr]
    assert tv.loads[-1]["metadata"]["title"] == "Overview"

    await hass.services.async_call("media_player", "turn_off", {"entity_id": player}, blocking=True)
    assert state_of(hass, player) == "off"
    assert tv.app is None


async def test_webhook_start_status_stop_and_bad_requests(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """The webhook answers at once, validates its input, limits its rate, and casts."""
    tv = cast_devices[TV]
    entry, player = await add_player(
        hass, tv, "lovelace", **{CONF_ALLOWED_ORIGINS: [colour_page.origin]}
    )
    url = f"{base_url}/api/webhook/{entry.data['webhook_id']}"

    async with ClientSession() as http:
        async with http.post(url, json={"action": "start", "dashboard": colour_page.url}) as resp:
            assert resp.status == 200
            answer = await resp.json()
        assert answer["status"] == "starting"
        assert answer["state"] == "buffering"
        assert answer["session_id"]
        await wait_for(lambda: state_of(hass, player) == "playing")
        await wait_for_screen(tv, RED)

        async with http.post(url, json={"action": "status"}) as resp:
            assert await resp.json() == {
                "status": "ok",
                "session_id": answer["session_id"],
                "state": "playing",
            }
        bad_bodies: list[tuple[Any, int]] = [
            ("{not json", 400),
            ('["start"]', 400),
            ('{"action": "dance"}', 400),
            ('{"action": "start", "dashboard": "javascript:alert(1)"}', 400),
            ('{"action": "start", "zoom": "huge"}', 400),
            ('{"action": "start", "colour": "red"}', 400),
            ('{"action": "stop", "dashboard": "lovelace"}', 400),
            # A site that is not allow-listed, or into the LAN; a day-long show.
            ('{"action": "start", "dashboard": "http://192.168.1.1/"}', 400),
            ('{"action": "start", "callback_url": "http://10.0.0.1/hook"}', 400),
            ('{"action": "start", "duration": "24:00:00"}', 400),
        ]
        for body, status in bad_bodies:
            async with http.post(
                url, data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                assert resp.status == status, body
                assert (await resp.json())["status"] == "error"
        async with http.post(url, json={"action": "start", "dashboard": "file:///etc"}) as resp:
            assert "neither a dashboard path" in (await resp.json())["message"]
        # Nothing of that reached the session.
        assert hass.states.get(player).attributes["session_id"] == answer["session_id"]  # type: ignore[union-attr]

        async with http.get(url) as resp:  # POST only
            assert resp.status == 405

        statuses = []
        for _ in range(7):
            async with http.post(url, json={"action": "start"}) as resp:
                statuses.append(resp.status)
        # Six starts a minute (the first one above counts too), then 429.
        assert statuses == [200] * 5 + [429] * 2

        async with http.post(url, json={"action": "stop"}) as resp:
            assert (await resp.json())["status"] == "stopping"
    await wait_for(lambda: state_of(hass, player) == "off" and tv.app is None)
    await hass.async_block_till_done()
    assert "ffmpeg" not in pipeline_processes().values()


async def test_takeover_ends_session(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """Another app on the TV ends our session with the reason; nothing is re-cast."""
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")

    tv.take_over()
    await wait_for(lambda: state_of(hass, player) == "idle")
    await hass.async_block_till_done()
    assert hass.states.get(player).attributes["end_reason"] == "taken_over"  # type: ignore[union-attr]
    assert [event.data["reason"] for event in ended] == ["taken_over"]
    assert "ffmpeg" not in pipeline_processes().values()
    assert tv.stops == 0  # we never quit someone else's app
    loads = len(tv.loads)
    tv.stop_app()
    await asyncio.sleep(3)
    assert len(tv.loads) == loads


async def test_credentials_in_a_dashboard_url_stay_in_the_pipeline(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A URL with a password and a token plays; its attribute, events and log lines lack them."""
    caplog.set_level(logging.DEBUG, logger="custom_components.dashboard_cast")
    tv = cast_devices[TV]
    secret_url = colour_page.url.replace("http://", "http://viewer:hunter2@") + "?token=abc123x"
    _, player = await add_player(hass, tv, secret_url)
    started = async_capture_events(hass, EVENT_SESSION_STARTED)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for_screen(tv, RED)  # the page itself got its URL whole
    shown = str(hass.states.get(player).attributes)  # type: ignore[union-attr]
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    await hass.async_block_till_done()
    events = [event.data for event in started + ended]
    assert len(events) == 2
    logged = "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("custom_components")
    )
    for secret in ("hunter2", "abc123x"):
        assert secret not in shown
        assert secret not in str(events)
        assert secret not in logged
    assert "token=***" in shown


@pytest.mark.parametrize(
    ("dropped", "answer_lost", "stops"),
    [
        pytest.param({"LAUNCH"}, set(), 1, id="launch-dropped"),
        pytest.param({"STOP"}, set(), 1, id="quit-dropped"),
        pytest.param(set(), {"STOP"}, 1, id="quit-answer-lost"),
        pytest.param({"STOP"}, {"STOP"}, 1, id="quit-dropped-then-answer-lost"),
    ],
)
async def test_cast_connection_reset_during_hand_off_or_quit(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    dropped: set[str],
    answer_lost: set[str],
    stops: int,
) -> None:
    """The cast connection resets as we launch or quit, before or after the device acts.

    What the device shows once it is back decides: the action is repeated only
    while it is still needed, and the stop action returns with the TV back.
    """
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    failed = async_capture_events(hass, EVENT_SESSION_FAILED)
    tv.drop_connection_on |= dropped
    tv.lose_answer_to |= answer_lost
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for_screen(tv, RED)
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    assert state_of(hass, player) == "off"
    assert tv.app is None  # the app was quit, also when the first STOP was lost
    assert tv.drop_connection_on == tv.lose_answer_to == set()  # the faults did happen
    assert tv.stops == stops  # a quit the device did is not sent again
    assert failed == []
    assert len(tv.loads) == 1


async def test_keep_casting_recasts_only_once_device_is_free(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """With keep_casting, a takeover waits; once the other app ends, the dashboard returns."""
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    await hass.services.async_call(
        DOMAIN, "start", {"entity_id": player, "keep_casting": True}, blocking=True
    )
    await wait_for(lambda: state_of(hass, player) == "playing")
    assert len(tv.loads) == 1

    tv.take_over()
    await wait_for(lambda: state_of(hass, player) == "idle")
    await asyncio.sleep(4)  # longer than the first re-cast delay
    assert len(tv.loads) == 1, "re-cast over other content"
    assert tv.app is not None
    assert tv.app["displayName"] == "YouTube"

    tv.stop_app()
    await wait_for(lambda: state_of(hass, player) == "playing")
    assert len(tv.loads) == 2
    await wait_for_screen(tv, RED)


async def test_two_devices_stream_in_parallel_from_one_browser(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """Two targets play at once, from one Chromium with two pipelines."""
    tv, hub = cast_devices[TV], cast_devices[HUB]
    players = [(await add_player(hass, device, colour_page.url))[1] for device in (tv, hub)]
    for player in players:
        await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: all(state_of(hass, player) == "playing" for player in players))
    await wait_for_screen(tv, RED)
    await wait_for_screen(hub, RED)
    assert tv.loaded_url != hub.loaded_url
    names = list(pipeline_processes().values())
    assert names.count("ffmpeg") == 2
    assert browser_processes() == 1


async def test_replace_never_runs_two_pipelines(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """Rapid starts on one target: the last wins, earlier ones end as replaced."""
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    answers = []
    for _ in range(3):
        response: Any = await hass.services.async_call(
            DOMAIN, "start", {"entity_id": player}, blocking=True, return_response=True
        )
        answers.append(response[player])
        await asyncio.sleep(0.3)
    most_ffmpeg = 0
    async with asyncio.timeout(30):
        while state_of(hass, player) != "playing":
            most_ffmpeg = max(most_ffmpeg, list(pipeline_processes().values()).count("ffmpeg"))
            await asyncio.sleep(0.05)
    assert most_ffmpeg <= 1
    assert tv.loads[-1]["contentId"].split("?")[0] == answers[-1]["stream_url"]
    assert all(answer["stream_url"] not in str(tv.loads[:-1]) for answer in answers[:2])
    assert [event.data["reason"] for event in ended] == ["replaced", "replaced"]
    assert hass.states.get(player).attributes["session_id"] == answers[-1]["session_id"]  # type: ignore[union-attr]


async def test_duration_ends_session(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """A session with a duration ends by itself and quits the app."""
    tv = cast_devices[TV]
    _, player = await add_player(hass, tv, colour_page.url)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    await hass.services.async_call(
        DOMAIN, "start", {"entity_id": player, "duration": {"seconds": 4}}, blocking=True
    )
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for(lambda: state_of(hass, player) == "off")
    await hass.async_block_till_done()
    assert [event.data["reason"] for event in ended] == ["duration"]
    assert tv.stops == 1
    assert "ffmpeg" not in pipeline_processes().values()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"dashboard": "javascript:alert(1)"}, ServiceValidationError),
        ({"dashboard": "chrome://settings"}, ServiceValidationError),
        ({"dashboard": "file:///etc/passwd"}, ServiceValidationError),
        ({"zoom": 10}, Exception),
        ({"quality": "4k"}, Exception),
        ({"duration": -5}, Exception),
    ],
)
async def test_bad_action_input_changes_nothing(
    hass: HomeAssistant,
    base_url: str,
    cast_devices: dict[str, CastDevice],
    fields: dict[str, Any],
    error: type[Exception],
) -> None:
    """Invalid fields raise a clear error; no pipeline starts and the state stays off."""
    _, player = await add_player(hass, cast_devices[TV], "lovelace")
    with pytest.raises(error) as raised:
        await hass.services.async_call(
            DOMAIN, "start", {"entity_id": player, **fields}, blocking=True
        )
    if error is ServiceValidationError:
        assert "neither a dashboard path" in str(raised.value)
    assert str(raised.value)
    assert state_of(hass, player) == "off"
    assert pipeline_processes() == {}
    assert cast_devices[TV].loads == []


async def test_unreachable_page_fails_with_reason(
    hass: HomeAssistant,
    base_url: str,
    cast_devices: dict[str, CastDevice],
) -> None:
    """A page that cannot load ends the session as failed, with the reason, leaving nothing."""
    tv = cast_devices[TV]
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    # Allowed, so that the page gets as far as a refused connection.
    origin = f"http://127.0.0.1:{closed_port}"
    _, player = await add_player(hass, tv, "lovelace", **{CONF_ALLOWED_ORIGINS: [origin]})
    failed = async_capture_events(hass, EVENT_SESSION_FAILED)
    await hass.services.async_call(
        DOMAIN,
        "start",
        {"entity_id": player, "dashboard": f"http://127.0.0.1:{closed_port}/"},
        blocking=True,
    )
    await wait_for(lambda: state_of(hass, player) == "off")
    await hass.async_block_till_done()
    attributes = hass.states.get(player).attributes  # type: ignore[union-attr]
    assert attributes["end_reason"] == "failed"
    # Through the page's egress proxy, a refused connection is the proxy's failure.
    assert "net::ERR_SOCKS_CONNECTION_FAILED" in attributes["last_error"]
    assert len(failed) == 1
    assert failed[0].data["reason"] == "failed"
    assert "net::ERR_SOCKS_CONNECTION_FAILED" in failed[0].data["error"]
    assert tv.loads == []
    assert "ffmpeg" not in pipeline_processes().values()


# Off our internal URL, the cast integration fetches the playlist first (to tell
# HLS from a playlist of links) with Home Assistant's own HTTP client.
@pytest.mark.usefixtures("disable_mock_zeroconf_resolver")
async def test_unload_ends_session_and_base_url_option(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    hass_client: Any,
) -> None:
    """The stream address option is what the TV gets; unloading ends everything."""
    tv = cast_devices[TV]
    # An internal URL the device could not reach: the option must win.
    await async_process_ha_core_config(hass, {"internal_url": "http://192.0.2.1:8123"})
    entry, player = await add_player(hass, tv, colour_page.url, base_url=base_url)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    url = tv.loads[-1]["contentId"]
    assert url.startswith(f"{base_url}/api/dashboard_cast/")
    await wait_for_screen(tv, RED)

    # The media player's picture, and the preview camera's, are the latest
    # rendered frame, whole: the stream's 16:9, never squared. (The frontend's
    # media card and more-info crop it to a square; picture cards show it all.)
    camera = er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{entry.entry_id}-preview")
    client = await hass_client()
    for picture in (
        hass.states.get(player).attributes["entity_picture"],  # type: ignore[union-attr]
        f"/api/camera_proxy/{camera}",
    ):
        response = await client.get(picture)
        assert response.status == 200
        jpeg = await response.read()
        assert jpeg[:2] == b"\xff\xd8"
        assert Image.open(BytesIO(jpeg)).size == (1920, 1080)  # the TV's, automatic quality

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert [event.data["reason"] for event in ended] == ["unloaded"]
    assert "ffmpeg" not in pipeline_processes().values()
    async with ClientSession() as http, http.get(url) as resp:
        assert resp.status == 404
    assert not session_folders()
