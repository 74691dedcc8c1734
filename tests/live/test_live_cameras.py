"""Live cameras on a dashboard: the TV shows the moving picture, not a frozen card.

A generic camera whose stream source is a looping H.264 clip (red for a second,
then blue) reaches the frontend through Home Assistant's stream integration as
HLS; an MJPEG camera serves the same clip as multipart JPEG. Each is on a panel
view of its own, in a picture-entity card in live mode; the playing receiver
must show both colours in turn.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import CONF_QUALITY
from homeassistant.components.camera.const import DATA_COMPONENT as CAMERA_COMPONENT
from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

from ..cameras import camera_source
from ..cast_emulator import CastDevice
from ..dashboards import store_dashboards
from ..receiver import ShakaReceiver
from .conftest import BLUE, RED
from .test_cast import TV, add_player, wait_for_screen
from .test_receiver import start_and_play

pytestmark = pytest.mark.usefixtures("socket_enabled")
CAMERA_DASHBOARD = "dashboard-cameras"
CAMERA_TOLERANCE = 60


@pytest.fixture
def camera_storage(hass_storage: dict[str, Any]) -> None:
    """An empty camera dashboard in storage, before the frontend (and lovelace) loads."""
    store_dashboards(hass_storage, (CAMERA_DASHBOARD, "Cameras", []))


def camera_of(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    (entity,) = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    return entity.entity_id


@pytest.fixture
async def camera_board(
    hass: HomeAssistant, camera_storage: None, base_url: str
) -> AsyncGenerator[dict[str, str]]:
    """Two cameras on the clip, and the dashboard showing each live: view path by kind."""
    assert await async_setup_component(hass, "lovelace", {})
    async with camera_source() as source:
        generic = MockConfigEntry(
            domain="generic",
            title="Door",
            version=2,
            options={
                "stream_source": source.live_ts,
                "content_type": "image/jpeg",
                "advanced": {"framerate": 2, "verify_ssl": False},
            },
        )
        mjpeg = MockConfigEntry(
            domain="mjpeg",
            title="Garden",
            options={
                "mjpeg_url": source.mjpeg,
                "still_image_url": source.still,
                "authentication": "basic",
                "username": None,
                "password": "",
                "verify_ssl": False,
            },
        )
        for entry in (generic, mjpeg):
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        views = {"hls": camera_of(hass, generic), "mjpeg": camera_of(hass, mjpeg)}
        dashboard = hass.data[LOVELACE_DATA].dashboards[CAMERA_DASHBOARD]
        await dashboard.async_save(
            {
                "title": "Cameras",
                "views": [
                    {
                        "title": kind,
                        "path": kind,
                        "type": "panel",
                        "cards": [
                            {
                                "type": "picture-entity",
                                "entity": camera,
                                "camera_view": "live",
                                "show_name": False,
                                "show_state": False,
                            }
                        ],
                    }
                    for kind, camera in views.items()
                ],
            }
        )
        yield views
        # As when the dashboard's viewers are gone: the stream's outputs idle
        # out (there, after 30 s), and with the last one the stream stops.
        camera = hass.data[CAMERA_COMPONENT].get_entity(views["hls"])
        if camera is not None and camera.stream is not None:
            for output in list(camera.stream.outputs().values()):
                await camera.stream.remove_provider(output)
        for entry in (generic, mjpeg):
            await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.parametrize("kind", ["hls", "mjpeg"])
async def test_a_live_camera_moves_on_the_tv(
    hass: HomeAssistant,
    camera_board: dict[str, str],
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
    kind: str,
) -> None:
    """The camera's picture changes on the TV as it changes at the camera."""
    tv = cast_devices[TV]
    tv.receiver = receiver
    _, player = await add_player(hass, tv, f"{CAMERA_DASHBOARD}/{kind}", **{CONF_QUALITY: "720p"})
    await start_and_play(hass, player, tv)
    # The camera's picture has been through H.264 and JPEG once more than a
    # page's: its colours drift further (red arrives as about 255, 45, 2).
    for colour in (RED, BLUE, RED, BLUE):
        await wait_for_screen(tv, colour, centre=True, tolerance=CAMERA_TOLERANCE)
