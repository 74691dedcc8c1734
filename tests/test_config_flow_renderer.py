"""The config flow's renderer and discovery steps, fast.

The renderer service is the real one, in this process: it answers its API
without ever starting a browser.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import (
    CONF_RENDERER_ADDON,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    DOMAIN,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import BrowserPool
from custom_components.dashboard_cast.dashboard_cast_pipeline.server import RendererService
from homeassistant.config_entries import SOURCE_HASSIO
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.service_info.hassio import HassioServiceInfo

from .media import serve
from .test_without_playwright import no_playwright  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled", "no_playwright")
SECRET = "flow-test-secret-" + "9" * 16


async def serve_renderer(pool: BrowserPool, work_dir: Path) -> tuple[str, web.AppRunner]:
    """The renderer service on a free loopback port; its address and runner."""
    runner, port = await serve(RendererService(SECRET, pool, "ffmpeg", work_dir).app())
    return f"http://127.0.0.1:{port}", runner


@pytest.fixture
async def renderer(tmp_path: Path) -> AsyncGenerator[str]:
    """A renderer service that launches its own Chromium (it never does here)."""
    url, runner = await serve_renderer(BrowserPool(), tmp_path)
    yield url
    await runner.cleanup()


@pytest.fixture
async def renderer_without_browser(tmp_path: Path) -> AsyncGenerator[str]:
    """A renderer service set to drive a browser endpoint that does not answer."""
    url, runner = await serve_renderer(
        BrowserPool(cdp_url="ws://127.0.0.1:9/chromium?token=t"), tmp_path
    )
    yield url
    await runner.cleanup()


async def renderer_step(hass: HomeAssistant, cast: er.RegistryEntry) -> dict[str, Any]:
    """Start adding a screen; Playwright is missing here, so the flow asks for a renderer."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"entity_id": cast.entity_id}
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "renderer")
    return dict(result)


async def test_renderer_step_checks_address_secret_and_browser(
    hass: HomeAssistant,
    living_room_tv: er.RegistryEntry,
    renderer: str,
    renderer_without_browser: str,
) -> None:
    """Each failure gets its own translated error and creates nothing; then the entry."""
    result = await renderer_step(hass, living_room_tv)
    for url, secret, error in (
        ("http://127.0.0.1:9", SECRET, "renderer_unreachable"),
        (renderer, "not-the-secret-at-all", "renderer_refused"),
        (renderer_without_browser, SECRET, "renderer_no_browser"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_RENDERER_URL: url, CONF_RENDERER_SECRET: secret}
        )
        assert result["errors"] == {CONF_RENDERER_URL: error}
        assert hass.config_entries.async_entries(DOMAIN) == []
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RENDERER_URL: renderer + "/", CONF_RENDERER_SECRET: SECRET}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_RENDERER_URL] == renderer
    assert result["options"][CONF_RENDERER_SECRET] == SECRET


async def test_renderer_step_says_to_wait_after_guessing(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry, renderer: str
) -> None:
    """Five wrong secrets: the renderer's brake holds, and the form says to wait."""
    result = await renderer_step(hass, living_room_tv)
    for attempt in range(6):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_RENDERER_URL: renderer, CONF_RENDERER_SECRET: f"wrong-secret-number-{attempt}"},
        )
    assert result["errors"] == {CONF_RENDERER_URL: "renderer_wait"}
    assert hass.config_entries.async_entries(DOMAIN) == []


def announced(url: str, secret: str = SECRET, uuid: str = "d" * 32) -> HassioServiceInfo:
    """What the hassio integration hands the flow for the add-on at url.

    Each announcement has a uuid of its own (the add-on announces itself at every
    start); its slug stays.
    """
    host, port = url.removeprefix("http://").split(":")
    return HassioServiceInfo(
        config={"host": host, "port": int(port), "secret": secret, "addon": "Renderer"},
        name="Dashboard Cast Renderer",
        slug="local_dashboard_cast_renderer",
        uuid=uuid,
    )


async def test_discovered_renderer_sets_up_a_screen_and_entries_follow_it(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry, renderer: str
) -> None:
    """Discovery → confirm → screen; the same add-on with a new secret moves its entries."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=announced(renderer)
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "hassio_confirm")
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"entity_id": living_room_tv.entity_id}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.options[CONF_RENDERER_URL] == renderer

    assert entry.options[CONF_RENDERER_ADDON] == "local_dashboard_cast_renderer"

    # Restarted on another port with a new secret (a new announcement): its entry follows.
    moved = renderer.rsplit(":", 1)[0] + ":8123"
    new_secret = "a-new-secret-" + "5" * 20
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=announced(moved, new_secret, "f" * 32)
    )
    assert result == result | {"type": FlowResultType.ABORT, "reason": "renderer_configured"}
    assert entry.options[CONF_RENDERER_URL] == moved
    assert entry.options[CONF_RENDERER_SECRET] == new_secret


async def test_discovery_leaves_a_renderer_entered_by_hand_alone(
    hass: HomeAssistant, config_entry: MockConfigEntry, renderer: str
) -> None:
    """Another renderer at the address the add-on announces is not the add-on's: unchanged."""
    hand_entered = {CONF_RENDERER_URL: renderer, CONF_RENDERER_SECRET: "a-hand-entered-" + "7" * 16}
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, **hand_entered}
    )
    before = dict(config_entry.options)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_HASSIO}, data=announced(renderer)
    )
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "hassio_confirm")
    assert dict(config_entry.options) == before


@pytest.mark.parametrize(
    "config",
    [
        {"host": "127.0.0.1", "port": 8099},
        {"host": "127.0.0.1", "port": "8099", "secret": "s" * 32},
        {"host": "127.0.0.1", "port": 8099, "secret": "short"},
    ],
)
async def test_incomplete_announcement_aborts(hass: HomeAssistant, config: dict[str, Any]) -> None:
    """An announcement without a usable address or secret sets nothing up."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=HassioServiceInfo(config=config, name="Renderer", slug="x", uuid="e" * 32),
    )
    assert result == result | {"type": FlowResultType.ABORT, "reason": "invalid_discovery"}
    assert hass.config_entries.async_entries(DOMAIN) == []
