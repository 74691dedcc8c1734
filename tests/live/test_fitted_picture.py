"""Automatic quality end to end: a Nest Hub gets its panel's picture, a TV 1080p."""

from __future__ import annotations

import pytest

from custom_components.dashboard_cast.const import DOMAIN
from homeassistant.core import HomeAssistant

from ..cast_emulator import CastDevice
from ..loopback import loopback
from ..media import fetch, probe
from ..receiver import ShakaReceiver
from .conftest import RED, ColourPage, wait_for
from .test_cast import TV, add_player, state_of, wait_for_screen

pytestmark = pytest.mark.usefixtures("socket_enabled")
HUB = loopback(3)  # reports itself as a Google Nest Hub


@pytest.mark.parametrize(
    ("host", "size"), [(HUB, (1024, 600)), (TV, (1920, 1080))], ids=["hub", "tv"]
)
async def test_the_picture_fits_the_device(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    receiver: ShakaReceiver,
    host: str,
    size: tuple[int, int],
) -> None:
    """Automatic (the default): the device's player decodes a picture of its panel's size."""
    device = cast_devices[host]
    device.receiver = receiver
    _, player = await add_player(hass, device, colour_page.url)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for_screen(device, RED)
    assert device.loaded_url is not None
    master = (await fetch(device.loaded_url)).decode()
    assert f"RESOLUTION={size[0]}x{size[1]}" in master
    media = device.loaded_url.replace("master.m3u8", "media.m3u8")
    stream = await probe(media)
    assert (stream["width"], stream["height"]) == size
    assert device.screen is not None
    assert (await device.screen.state()).video_size == size
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
