"""The integration's own brand images, as Home Assistant's brands proxy serves them.

Since Home Assistant 2026.3 a custom integration ships its icon and logo in
brand/; HACS shows brand/icon.png. scripts/brand_images.py draws them.
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

from PIL import Image
import pytest
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dashboard_cast.const import DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / DOMAIN / "brand"


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_brand_images(prefix: str) -> None:
    """Icons square at 256 and 512 px, logos wide at 128 and 256 px high, transparent."""
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(BRAND / f"{prefix}{name}") as icon:
            assert (icon.format, icon.mode, icon.size) == ("PNG", "RGBA", (size, size))
            assert icon.getpixel((0, size - 1))[3] == 0  # a transparent corner
    for name, height in (("logo.png", 128), ("logo@2x.png", 256)):
        with Image.open(BRAND / f"{prefix}{name}") as logo:
            assert (logo.format, logo.mode, logo.height) == ("PNG", "RGBA", height)
            assert logo.width > 2 * height


async def test_home_assistant_serves_them(
    hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    """The brands proxy finds brand/ in our folder and answers with our files, not the CDN's."""
    assert await async_setup_component(hass, "brands", {})
    client = await hass_client()
    for image in ("icon.png", "dark_logo@2x.png"):
        response = await client.get(f"/api/brands/integration/{DOMAIN}/{image}")
        assert response.status == HTTPStatus.OK, image
        assert await response.read() == (BRAND / image).read_bytes()
