"""The renderer add-on's entry point, found through Supervisor discovery.

The add-on process runs for real; only the Supervisor, which cannot run here,
is a stand-in that answers the three calls the add-on makes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import signal
import sys
from typing import Any
import uuid as uuid_lib

from aiohttp import web
import psutil
import pytest

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_DASHBOARD,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_HASSIO
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.hassio import HassioServiceInfo

from ..cast_emulator import CastDevice
from ..loopback import loopback
from ..media import pipeline_processes
from ..test_without_playwright import no_playwright  # noqa: F401
from .conftest import RED, ColourPage, cast_entity_id, wait_for
from .test_cast import TV, player_id, state_of, wait_for_screen
from .test_renderer_service import REPO, free_port

pytestmark = pytest.mark.usefixtures("socket_enabled", "no_playwright")
SUPERVISOR_TOKEN = "supervisor-token-of-the-addon"  # noqa: S105 - a test value
USER_SECRET = "a-secret-the-user-chose"  # noqa: S105 - a test value
SHORT_SECRET = "short"  # noqa: S105 - a test value
ADDON = "Dashboard Cast Renderer"
KITCHEN = loopback(3)


@dataclass
class FakeSupervisor:
    """What the add-on told the Supervisor."""

    url: str = ""
    announced: list[dict[str, Any]] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)


@pytest.fixture
async def supervisor() -> AsyncGenerator[FakeSupervisor]:
    """The Supervisor API calls of the add-on, answered as the Supervisor does."""
    seen = FakeSupervisor()

    @web.middleware
    async def only_the_addon(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {SUPERVISOR_TOKEN}":
            return web.json_response({"result": "error"}, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    async def network_info(_: web.Request) -> web.Response:
        interfaces = [
            {"interface": "docker0", "primary": False, "ipv4": {"address": ["172.30.32.1/23"]}},
            {"interface": "end0", "primary": True, "ipv4": {"address": ["127.0.0.1/8"]}},
        ]
        return web.json_response({"result": "ok", "data": {"interfaces": interfaces}})

    async def discovery(request: web.Request) -> web.Response:
        seen.announced.append(await request.json())
        return web.json_response({"result": "ok", "data": {"uuid": uuid_lib.uuid4().hex}})

    async def withdraw(request: web.Request) -> web.Response:
        seen.withdrawn.append(request.match_info["uuid"])
        return web.json_response({"result": "ok", "data": {}})

    app = web.Application(middlewares=[only_the_addon])
    app.router.add_get("/network/info", network_info)
    app.router.add_post("/discovery", discovery)
    app.router.add_delete("/discovery/{uuid}", withdraw)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    seen.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    yield seen
    await runner.cleanup()


async def start_addon(
    data: Path, supervisor: FakeSupervisor, *, capture_errors: bool = False, **options: Any
) -> asyncio.subprocess.Process:
    """The add-on as Supervisor starts it: options in /data, the Supervisor's token."""
    (data / "options.json").write_text(json.dumps({"log_level": "warning", **options}))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dashboard_cast_renderer.addon", cwd=REPO,
        env={
            **os.environ,
            "DASHBOARD_CAST_ADDON_DATA": str(data),
            "SUPERVISOR_API": supervisor.url,
            "SUPERVISOR_TOKEN": SUPERVISOR_TOKEN,
        },
        stderr=asyncio.subprocess.PIPE if capture_errors else None,
    )  # fmt: skip


async def stop_addon(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, as Supervisor stops an add-on; it must exit cleanly."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0


def discovered(announcement: dict[str, Any], uuid: str) -> HassioServiceInfo:
    """What Home Assistant's hassio integration hands the config flow."""
    return HassioServiceInfo(
        config={**announcement["config"], "addon": ADDON},
        name=ADDON,
        slug="local_dashboard_cast_renderer",
        uuid=uuid,
    )


async def test_addon_announces_itself_and_a_screen_renders_on_it(
    hass: HomeAssistant,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    supervisor: FakeSupervisor,
    tmp_path: Path,
) -> None:
    """Discovery → confirm → screen → stream on the TV; entries follow a new secret."""
    port = free_port()
    addon = await start_addon(tmp_path, supervisor, port=port)
    try:
        await wait_for(lambda: supervisor.announced)
        announcement = supervisor.announced[0]
        secret = (tmp_path / "secret").read_text()
        assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
        assert len(secret) >= 32
        assert announcement == {
            "service": DOMAIN,
            "config": {"host": "127.0.0.1", "port": port, "secret": secret},
        }
        renderer_url = f"http://127.0.0.1:{port}"
        # It listens on the host's address the Supervisor named (and loopback), not on all.
        listening = {
            connection.laddr.ip
            for connection in psutil.Process(addon.pid).net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.1"}

        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=discovered(announcement, "a" * 32)
        )
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "hassio_confirm")
        assert result["description_placeholders"] == {"addon": ADDON}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
        assert (result["type"], result["step_id"]) == (FlowResultType.FORM, "user")
        tv = cast_devices[TV]
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"entity_id": cast_entity_id(hass, tv)}
        )
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        assert entry.options[CONF_RENDERER_URL] == renderer_url
        assert entry.options[CONF_RENDERER_SECRET] == secret

        player = player_id(hass, entry.entry_id)
        hass.config_entries.async_update_entry(
            entry,
            options={
                **entry.options,
                CONF_DASHBOARD: colour_page.url,
                CONF_ALLOWED_ORIGINS: [colour_page.origin],
            },
        )
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
        await wait_for(lambda: state_of(hass, player) == "playing")
        assert tv.loaded_url is not None
        assert tv.loaded_url.startswith(renderer_url + "/api/dashboard_cast/")
        await wait_for_screen(tv, RED)
        await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)

        # The same announcement again (every Home Assistant start): nothing to set up.
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_HASSIO}, data=discovered(announcement, "a" * 32)
        )
        assert result == result | {"type": FlowResultType.ABORT, "reason": "renderer_configured"}

        # Another screen: the renderer step suggests the discovered add-on.
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": "user"})
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"entity_id": cast_entity_id(hass, cast_devices[KITCHEN])}
        )
        assert result["step_id"] == "renderer"
        suggested = {
            str(key): key.description["suggested_value"] for key in result["data_schema"].schema
        }
        assert suggested == {CONF_RENDERER_URL: renderer_url, CONF_RENDERER_SECRET: secret}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], suggested)
        await hass.async_block_till_done()
        assert result["type"] is FlowResultType.CREATE_ENTRY
    finally:
        await stop_addon(addon)
    assert supervisor.withdrawn  # the announcement goes with the add-on

    # The user sets a secret of their own: the restarted add-on announces it,
    # and both screens follow it.
    addon = await start_addon(tmp_path, supervisor, port=port, secret=USER_SECRET)
    try:
        await wait_for(lambda: len(supervisor.announced) == 2)
        result = await hass.config_entries.flow.async_init(
            DOMAIN,
            context={"source": SOURCE_HASSIO},
            data=discovered(supervisor.announced[1], "b" * 32),
        )
        assert result["reason"] == "renderer_configured"
        await hass.async_block_till_done()
        entries = hass.config_entries.async_entries(DOMAIN)
        assert len(entries) == 2
        for each in entries:
            assert each.options[CONF_RENDERER_SECRET] == USER_SECRET
            assert each.runtime_data.streamer.can_render
        await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
        await wait_for(lambda: state_of(hass, player) == "playing")
        await wait_for_screen(tv, RED)
    finally:
        await stop_addon(addon)
    await wait_for(lambda: pipeline_processes() == {})


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({"host": "127.0.0.1", "port": 8099}, "invalid_discovery"),
        ({"host": "127.0.0.1", "port": "8099", "secret": "s" * 32}, "invalid_discovery"),
        ({"host": "", "port": 8099, "secret": "s" * 32}, "invalid_discovery"),
        ({"host": "127.0.0.1", "port": 8099, "secret": "short"}, "invalid_discovery"),
    ],
)
async def test_incomplete_announcement_sets_nothing_up(
    hass: HomeAssistant, config: dict[str, Any], reason: str
) -> None:
    """An announcement without a usable address or secret aborts."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=HassioServiceInfo(config=config, name=ADDON, slug="x", uuid="c" * 32),
    )
    assert result == result | {"type": FlowResultType.ABORT, "reason": reason}
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_addon_that_does_not_answer_is_not_taken(
    hass: HomeAssistant, cast_devices: dict[str, CastDevice]
) -> None:
    """Confirming an add-on that does not answer shows why and creates nothing."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_HASSIO},
        data=HassioServiceInfo(
            config={"host": "127.0.0.1", "port": 9, "secret": "s" * 32},
            name=ADDON,
            slug="x",
            uuid="d" * 32,
        ),
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert (result["step_id"], result["errors"]) == (
        "hassio_confirm",
        {"base": "renderer_unreachable"},
    )
    assert hass.config_entries.async_entries(DOMAIN) == []


async def test_addon_refuses_a_short_secret_option(
    supervisor: FakeSupervisor, tmp_path: Path
) -> None:
    """A secret option under 16 characters stops the add-on with why; nothing is announced."""
    process = await start_addon(
        tmp_path, supervisor, capture_errors=True, port=free_port(), secret=SHORT_SECRET
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode != 0
    assert b"The secret option: the secret must have at least 16 characters" in stderr
    assert supervisor.announced == []
    assert not (tmp_path / "secret").exists()
