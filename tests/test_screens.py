"""The picture fitted to the cast device: a hub's panel, 1080p on a TV."""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.cast_target import fitted_quality
from custom_components.dashboard_cast.dashboard_cast_pipeline.options import (
    MAX_BITRATE_KBPS,
    VIEWPORTS,
    Quality,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er


def cast_entity(hass: HomeAssistant, model: str | None, *, with_device: bool = True) -> str:
    """A cast media_player whose device reports model (as the cast integration records it)."""
    cast_entry = MockConfigEntry(domain="cast")
    cast_entry.add_to_hass(hass)
    device_id = None
    if with_device:
        device_id = (
            dr.async_get(hass)
            .async_get_or_create(
                config_entry_id=cast_entry.entry_id, identifiers={("cast", "uuid-1")}, model=model
            )
            .id
        )
    return (
        er.async_get(hass)
        .async_get_or_create(
            "media_player", "cast", "uuid-1", config_entry=cast_entry, device_id=device_id
        )
        .entity_id
    )


@pytest.mark.parametrize(
    ("model", "quality"),
    [
        ("Google Nest Hub", Quality.NEST_HUB),
        ("Google Home Hub", Quality.NEST_HUB),
        ("Google Nest Hub Max", Quality.NEST_HUB_MAX),
        ("Chromecast", Quality.P1080),
        ("Chromecast Ultra", Quality.P1080),
        ("Google TV Streamer", Quality.P1080),
        (None, Quality.P720),
    ],
)
async def test_automatic_quality_fits_the_device(
    hass: HomeAssistant, model: str | None, quality: Quality
) -> None:
    """Hubs get their panel (at most 720 lines, what their player takes), TVs 1080p."""
    assert fitted_quality(hass, cast_entity(hass, model)) is quality


async def test_a_cast_entity_without_a_device_gets_720p(hass: HomeAssistant) -> None:
    """Nothing known of the device: the picture every receiver plays."""
    assert fitted_quality(hass, cast_entity(hass, None, with_device=False)) is Quality.P720


def test_every_fitted_picture_plays_at_level_4_1() -> None:
    """H.264 level 4.1: at most 8192 macroblocks a frame; even sizes; hubs at most 720 lines."""
    for quality, (width, height) in VIEWPORTS.items():
        assert width % 2 == 0, quality
        assert height % 2 == 0, quality
        assert (width // 16 + (width % 16 > 0)) * (height // 16 + (height % 16 > 0)) <= 8192
        assert quality in MAX_BITRATE_KBPS
    assert VIEWPORTS[Quality.NEST_HUB] == (1024, 600)
    assert VIEWPORTS[Quality.NEST_HUB_MAX][1] <= 720
