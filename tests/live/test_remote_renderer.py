"""The integration renders on the renderer service; Home Assistant cannot import Playwright."""

from __future__ import annotations

import asyncio
from datetime import datetime
import json

from aiohttp import ClientSession
import pytest

from custom_components.dashboard_cast.const import CONF_RENDERER_SECRET, CONF_RENDERER_URL, DOMAIN
from custom_components.dashboard_cast.diagnostics import async_get_config_entry_diagnostics
from custom_components.dashboard_cast.streamer import DATA_DOMAIN
from homeassistant.components.camera import async_get_image
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component

from ..cast_emulator import CastDevice
from ..dashboards import TEST_DASHBOARD
from ..media import close_to, colour_of, session_folders
from ..test_config_flow import VALID_OPTIONS
from ..test_without_playwright import no_playwright  # noqa: F401
from .conftest import BLUE, RED, ColourPage, cast_entity_id, wait_for
from .test_cast import TV, add_player, state_of, wait_for_screen
from .test_dashboard_page import stored_dashboard  # noqa: F401
from .test_renderer_service import SECRET, Renderer, crash, renderer, start_renderer  # noqa: F401

pytestmark = pytest.mark.usefixtures("socket_enabled", "no_playwright")


async def test_renderer_streams_to_the_tv_and_a_crash_fails_with_a_reason(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    renderer: Renderer,  # noqa: F811
) -> None:
    """Start, show, follow a change; the renderer crashes: failed, with why; back: works again."""
    tv = cast_devices[TV]
    entry, player = await add_player(
        hass,
        tv,
        colour_page.url,
        **{CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: SECRET},
    )
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    assert tv.loaded_url is not None
    assert tv.loaded_url.startswith(renderer.base + "/api/dashboard_cast/")
    await wait_for_screen(tv, RED)
    colour_page.colour = "#0000ff"
    await wait_for_screen(tv, BLUE)
    # The preview camera and the player's picture: the renderer's latest frame.
    camera = er.async_get(hass).async_get_entity_id("camera", DOMAIN, f"{entry.entry_id}-preview")
    assert camera is not None
    image = await async_get_image(hass, camera)
    assert close_to(await colour_of(image.content, "jpeg_pipe"), BLUE)
    await wait_for(lambda: hass.states.get(player).attributes.get("entity_picture"))  # type: ignore[union-attr]
    picture = hass.states.get(player).attributes["entity_picture"]  # type: ignore[union-attr]
    async with ClientSession() as http, http.get(base_url + picture) as response:
        assert (response.status, response.content_type) == (200, "image/jpeg")
        assert close_to(await colour_of(await response.read(), "jpeg_pipe"), BLUE)
    pool = hass.data[DATA_DOMAIN].pool
    assert (pool.running, pool.launches) == (False, 0)  # nothing rendered in Home Assistant
    # Nothing to repair: no entry needs Playwright here.
    assert ir.async_get(hass).async_get_issue(DOMAIN, "playwright_missing") is None

    await crash(renderer)
    await wait_for(lambda: state_of(hass, player) != "playing")
    attributes = hass.states.get(player).attributes  # type: ignore[union-attr]
    assert attributes["end_reason"] == "failed"
    assert "renderer" in attributes["last_error"]

    async with ClientSession() as http:
        back = await start_renderer(http, int(renderer.base.rsplit(":", 1)[1]))
        try:
            await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
            await wait_for(lambda: state_of(hass, player) == "playing")
            await wait_for_screen(tv, BLUE)
            await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
            assert (await back.call("GET", "/health"))[1]["sessions"] == 0
        finally:
            back.process.terminate()
            assert await back.process.wait() == 0
    # The crashed renderer's stream folder was removed by the next one.
    assert session_folders() == []


@pytest.mark.usefixtures("stored_dashboard")
async def test_renderer_opens_a_dashboard_logged_in_and_reloads_it(
    hass: HomeAssistant,
    base_url: str,
    cast_devices: dict[str, CastDevice],
    renderer: Renderer,  # noqa: F811
) -> None:
    """The renderer logs in with our system user's token; a changed dashboard loads again."""
    assert await async_setup_component(hass, "lovelace", {})
    tv = cast_devices[TV]
    _, player = await add_player(
        hass,
        tv,
        f"{TEST_DASHBOARD}/kitchen",
        **{CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: SECRET},
    )
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")

    def token_used() -> datetime | None:
        (user,) = [u for u in hass.auth._store._users.values() if u.name == "Dashboard Cast"]
        return max(
            (t.last_used_at for t in user.refresh_tokens.values() if t.last_used_at), default=None
        )

    # Each load of the frontend exchanges the refresh token for an access token.
    await wait_for(token_used)
    first_login = token_used()
    hass.bus.async_fire("lovelace_updated", {"url_path": "some-other-board"})
    await asyncio.sleep(2)
    assert token_used() == first_login
    hass.bus.async_fire("lovelace_updated", {"url_path": TEST_DASHBOARD})
    await wait_for(lambda: token_used() != first_login)
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)


async def test_options_take_a_renderer_only_once_it_answers(
    hass: HomeAssistant,
    cast_devices: dict[str, CastDevice],
    renderer: Renderer,  # noqa: F811
) -> None:
    """A wrong secret or a silent address gives a translated error and changes nothing."""
    entry, _ = await add_player(hass, cast_devices[TV], "http://127.0.0.1:9/")
    before = dict(entry.options)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    for url, secret, error in (
        (renderer.base, "not-the-secret-at-all", "renderer_refused"),
        ("http://127.0.0.1:9", SECRET, "renderer_unreachable"),
        ("ftp://127.0.0.1", SECRET, "invalid_base_url"),
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"],
            {**VALID_OPTIONS, CONF_RENDERER_URL: url, CONF_RENDERER_SECRET: secret},
        )
        assert result["errors"] == {CONF_RENDERER_URL: error}
        assert dict(entry.options) == before
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**VALID_OPTIONS, CONF_RENDERER_URL: renderer.base + "/", CONF_RENDERER_SECRET: SECRET},
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_RENDERER_URL] == renderer.base
    assert entry.options[CONF_RENDERER_SECRET] == SECRET
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert SECRET not in json.dumps(diagnostics, default=str)
    assert diagnostics["entry"]["options"][CONF_RENDERER_URL] == renderer.base


async def test_setup_without_playwright_asks_for_a_renderer(
    hass: HomeAssistant,
    cast_devices: dict[str, CastDevice],
    renderer: Renderer,  # noqa: F811
) -> None:
    """Rendering here is not offered when it cannot work; the renderer is checked first."""
    cast = cast_entity_id(hass, cast_devices[TV])
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {"entity_id": cast})
    assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "renderer")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: "not-the-secret-at-all"},
    )
    assert result["errors"] == {CONF_RENDERER_URL: "renderer_refused"}
    assert hass.config_entries.async_entries(DOMAIN) == []
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RENDERER_URL: renderer.base, CONF_RENDERER_SECRET: SECRET}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_RENDERER_URL] == renderer.base
    assert hass.config_entries.async_entries(DOMAIN)[0].runtime_data.streamer.can_render
