"""Diagnostics of a running session, signed status callbacks, and secrets kept secret."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientSession
import pytest
from pytest_homeassistant_custom_component.common import async_capture_events
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.dashboard_cast.auth import SYSTEM_USER_NAME
from custom_components.dashboard_cast.const import CONF_ALLOWED_ORIGINS
from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from ..cast_emulator import CastDevice
from ..conftest import CALLBACK_SECRET
from ..test_security import callback_server, verified_status
from .conftest import wait_for
from .test_cast import TV, add_player, state_of

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def test_diagnostics_callbacks_and_secrets(
    hass: HomeAssistant,
    base_url: str,
    cast_devices: dict[str, CastDevice],
    hass_client: ClientSessionGenerator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A webhook start with a callback: signed statuses arrive, diagnostics tell all but secrets."""
    assert await async_setup_component(hass, "diagnostics", {})
    tv = cast_devices[TV]
    callback_url, received, runner = await callback_server([])
    # The receiver is on loopback, where callbacks go only when allow-listed.
    receiver_origin = str(URL(callback_url).origin())
    entry, player = await add_player(
        hass, tv, "lovelace/0", **{CONF_ALLOWED_ORIGINS: [receiver_origin]}
    )
    started = async_capture_events(hass, "dashboard_cast_session_started")
    ended = async_capture_events(hass, "dashboard_cast_session_ended")
    webhook = f"{base_url}/api/webhook/{entry.data['webhook_id']}"
    try:
        async with ClientSession() as http:
            start = {"action": "start", "callback_url": callback_url}
            async with http.post(webhook, json=start) as resp:
                assert resp.status == 200
            await wait_for(lambda: state_of(hass, player) == "playing")
            session = entry.runtime_data.streamer.session
            assert session is not None
            # The session's own login, to look for below.
            (user,) = [u for u in await hass.auth.async_get_users() if u.name == SYSTEM_USER_NAME]
            (refresh_token,) = [t.token for t in user.refresh_tokens.values()]
            await wait_for(lambda: session.stats.frames_in > 0)
            # The page is still once loaded; repeats keep the frame rate.
            await wait_for(lambda: session.stats.frames_out > session.stats.frames_in)
            # Its segments are then made again without FFmpeg.
            await wait_for(lambda: session.stats.segments_reused > 0)

            diagnostics: dict[str, Any] = await get_diagnostics_for_config_entry(
                hass, hass_client, entry
            )
            async with http.post(webhook, json={"action": "stop"}) as resp:
                assert resp.status == 200
            await wait_for(lambda: len(received) == 2)
    finally:
        await runner.cleanup()

    assert diagnostics["session"]["state"] == "playing"
    assert diagnostics["session"]["dashboard"] == "lovelace/0"
    pipeline = diagnostics["pipeline"]
    assert pipeline["frames_in"] > 0
    assert pipeline["frames_out"] > pipeline["frames_in"]  # repeats fill the frame rate
    assert pipeline["restarts"] == 0
    assert pipeline["last_error"] is None
    assert 0 < pipeline["fresh_frames_out"] <= pipeline["frames_in"]
    assert pipeline["ffmpeg_cpu_seconds"] > 0
    assert pipeline["segments_reused"] > 0
    assert pipeline["frames_encoded"] < pipeline["frames_out"]
    assert diagnostics["browser"]["running"] is True
    assert diagnostics["browser"]["isolation"] == {
        "sandbox": True,
        "network_sandbox": False,  # the headless shell's
        "user": "nobody",
        "sandbox_off_reason": None,
    }
    assert diagnostics["browser"]["executable"].endswith("chromium-headless-shell")
    assert diagnostics["browser"]["capture"] == "frame_clock"  # the headless shell's
    assert diagnostics["renderer"] is None  # rendered in here
    assert diagnostics["browser"]["chromium_cpu_seconds"] > 0
    versions = diagnostics["versions"]
    assert versions["chromium"].split(".")[0].isdigit()
    assert versions["ffmpeg"]
    assert versions["playwright"] == "1.65.2"
    assert diagnostics["entry"]["data"]["webhook_id"] == REDACTED
    assert diagnostics["entry"]["data"]["callback_secret"] == REDACTED

    # Statuses: signed with the entry's secret, started then ended.
    statuses = [verified_status(headers, body) for headers, body in received]
    assert [status["event"] for status in statuses] == ["started", "ended"]
    assert statuses[1]["reason"] == "stopped"
    assert entry.runtime_data.callbacks.delivered == 2

    # No secret anywhere a user, a log reader or an automation could see it.
    token = session.token
    attributes = str(hass.states.get(player).attributes)  # type: ignore[union-attr]
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.dashboard_cast")
    )
    for secret in (token, refresh_token, entry.data["webhook_id"], CALLBACK_SECRET):
        assert secret not in json.dumps(diagnostics)
        assert secret not in json.dumps([event.data for event in started + ended])
        assert secret not in json.dumps(statuses)
        assert secret not in attributes
        assert secret not in ours
