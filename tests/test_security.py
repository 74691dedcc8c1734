"""Webhook exposure and size limit, signed status callbacks, and repair issues."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import hashlib
import hmac
import json
from typing import Any
from unittest.mock import patch

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_BASE_URL,
    CONF_WEBHOOK_REMOTE,
    DOMAIN,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.redact import text_for_logs
from custom_components.dashboard_cast.status_callback import SIGNATURE_HEADER, StatusCallbacks
from custom_components.dashboard_cast.webhooks import MAX_BODY_BYTES
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.core_config import async_process_ha_core_config
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util

from .conftest import CALLBACK_SECRET
from .media import serve

FAST_RETRIES = (0.01, 0.02, 0.04)


@pytest.fixture
async def loaded(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """A loaded entry whose cast device is known but has no state (unavailable)."""
    assert await async_setup_component(hass, "http", {})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


async def post(client: Any, webhook_id: str, body: bytes) -> tuple[int, str]:
    response = await client.post(f"/api/webhook/{webhook_id}", data=body)
    return response.status, await response.text()


async def test_webhook_is_local_only_unless_allowed(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """A call through the cloud is ignored by default, handled once remote calls are on."""
    client = await hass_client_no_auth()
    body = json.dumps({"action": "status"}).encode()
    through_cloud = patch("homeassistant.components.webhook.is_cloud_connection", return_value=True)
    with through_cloud:
        status, text = await post(client, "living-room-webhook", body)
    assert (status, text) == (200, "")  # Home Assistant's silent answer to a refused caller

    hass.config_entries.async_update_entry(
        loaded, options={**loaded.options, CONF_WEBHOOK_REMOTE: True}
    )
    await hass.config_entries.async_reload(loaded.entry_id)
    with through_cloud:
        status, text = await post(client, "living-room-webhook", body)
    assert status == 200
    assert json.loads(text)["status"] == "ok"


async def test_webhook_refuses_oversized_bodies(
    loaded: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """A body over the limit answers 413, declared or streamed without a length."""
    client = await hass_client_no_auth()
    huge = json.dumps({"action": "start", "dashboard": "a" * MAX_BODY_BYTES}).encode()
    assert (await post(client, "living-room-webhook", huge))[0] == 413

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b" " * MAX_BODY_BYTES

    response = await client.post("/api/webhook/living-room-webhook", data=chunks())
    assert response.status == 413
    assert loaded.runtime_data.controller.current is None


async def test_webhook_reads_a_body_that_arrives_in_pieces(
    loaded: MockConfigEntry, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """A body sent in two TCP segments, a moment apart, is read whole."""
    client = await hass_client_no_auth()
    body = json.dumps({"action": "status"}).encode()
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /api/webhook/living-room-webhook HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:5]
    )
    await writer.drain()
    await asyncio.sleep(0.2)  # the handler is already reading
    writer.write(body[5:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(payload)["status"] == "ok"


async def test_webhook_over_the_websocket_api(
    hass: HomeAssistant, loaded: MockConfigEntry, hass_ws_client: Any
) -> None:
    """Home Assistant hands a webhook over its websocket API a stand-in request: it works."""
    client = await hass_ws_client(hass)
    await client.send_json_auto_id(
        {
            "type": "webhook/handle",
            "webhook_id": "living-room-webhook",
            "method": "POST",
            "body": json.dumps({"action": "status"}),
            "headers": {"Content-Type": "application/json"},
        }
    )
    result = (await client.receive_json())["result"]
    assert result["status"] == 200
    assert json.loads(result["body"])["status"] == "ok"


def verified_status(headers: dict[str, str], body: bytes) -> Any:
    """The JSON status of a callback, after checking its signature with the entry's secret."""
    timestamp, digest = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER].split(","))
    expected = hmac.new(
        CALLBACK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(digest, expected)
    return json.loads(body)


async def callback_server(
    statuses: list[int],
) -> tuple[str, list[tuple[dict[str, str], bytes]], web.AppRunner]:
    """A receiver answering the given statuses in turn (then 200), recording each call."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/status", handle)
    runner, port = await serve(app)
    return f"http://127.0.0.1:{port}/status", received, runner


def allow_receiver(hass: HomeAssistant, entry: MockConfigEntry, url: str) -> None:
    """Allow-list the receiver's origin: callbacks go to loopback only when allowed."""
    origin = str(URL(url).origin())
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ALLOWED_ORIGINS: [origin]}
    )


@pytest.mark.usefixtures("socket_enabled")
async def test_status_callback_is_signed_and_retried(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Two failures, then delivery: three attempts, each verifiably signed."""
    url, received, runner = await callback_server([500, 503])
    allow_receiver(hass, config_entry, url)
    callbacks = StatusCallbacks(hass, config_entry)
    try:
        with patch("custom_components.dashboard_cast.status_callback.RETRY_DELAYS", FAST_RETRIES):
            await callbacks.async_send(url, {"event": "started", "session_id": "ab12"})
    finally:
        await runner.cleanup()
    assert len(received) == 3
    assert (callbacks.delivered, callbacks.failed) == (1, 0)
    for headers, body in received:
        assert verified_status(headers, body) == {"event": "started", "session_id": "ab12"}


@pytest.mark.usefixtures("socket_enabled")
async def test_status_callback_gives_up_after_three_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Four failed attempts are counted once; the log names the URL without credentials.

    The retries wait 2, 4 and 8 s on Home Assistant's clock: the test skips them.
    """
    url, received, runner = await callback_server([500] * 10)
    allow_receiver(hass, config_entry, url)
    callbacks = StatusCallbacks(hass, config_entry)
    secret_url = url.replace("http://", "http://user:hunter2@") + "?key=abc"
    try:
        task = callbacks.async_send(secret_url, {"event": "ended"})
        # Skip a little more than the longest wait each time; the guard is shorter
        # than the 14 s the retries wait in all (a skip must not reach it).
        async with asyncio.timeout(13):
            while not task.done():
                async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=8.5))
                await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    assert len(received) == 4
    assert (callbacks.delivered, callbacks.failed, callbacks.last_error) == (0, 1, "HTTP 500")
    ours = "\n".join(
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("custom_components.dashboard_cast")
    )
    assert url in ours
    assert "hunter2" not in ours
    assert "key=abc" not in ours


@pytest.mark.usefixtures("socket_enabled")
async def test_status_callback_never_blocks(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Sending returns at once, whatever the receiver does."""
    allow_receiver(hass, config_entry, "http://127.0.0.1:9")
    callbacks = StatusCallbacks(hass, config_entry)
    with patch("custom_components.dashboard_cast.status_callback.RETRY_DELAYS", (60.0,)):
        task = callbacks.async_send("http://127.0.0.1:9/status", {"event": "failed"})
    await asyncio.sleep(0.1)
    assert not task.done()  # still waiting to retry, and nobody waits for it
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_removed_cast_entity_raises_repair(
    hass: HomeAssistant, loaded: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """Removing the cast entity reloads the entry into a setup error and a repair issue."""
    issues = ir.async_get(hass)
    er.async_get(hass).async_remove(living_room_tv.entity_id)
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.SETUP_ERROR
    issue = issues.async_get_issue(DOMAIN, f"target_missing_{loaded.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders == {"title": "Living room TV"}


@pytest.mark.parametrize(
    ("internal_url", "base_url", "issue"),
    [
        ("http://127.0.0.1:8123", None, "stream_address_local"),
        ("http://localhost:8123", None, "stream_address_local"),
        ("http://127.0.0.1:8123", "http://192.168.1.10:8123", None),
        ("http://192.168.1.10:8123", None, None),
    ],
)
async def test_stream_address_only_this_machine_reaches_raises_repair(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    internal_url: str,
    base_url: str | None,
    issue: str | None,
) -> None:
    """An address that only reaches this machine is reported; a LAN address is not."""
    await async_process_ha_core_config(hass, {"internal_url": internal_url})
    if base_url is not None:
        hass.config_entries.async_update_entry(
            config_entry, options={**config_entry.options, CONF_BASE_URL: base_url}
        )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    found = ir.async_get(hass).async_get_issue(DOMAIN, f"stream_address_{config_entry.entry_id}")
    assert (found.translation_key if found is not None else None) == issue


async def test_missing_ffmpeg_raises_repair(hass: HomeAssistant) -> None:
    """An ffmpeg binary that does not run is reported with its name."""
    assert await async_setup_component(hass, "ffmpeg", {"ffmpeg": {"ffmpeg_bin": "/nonexistent"}})
    assert await async_setup_component(hass, DOMAIN, {})
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "ffmpeg_missing")
    assert issue is not None
    assert issue.translation_placeholders == {"binary": "/nonexistent"}


def test_errors_never_carry_a_stream_token() -> None:
    """The cast integration quotes our URL in its errors; what we pass on lacks the token."""
    token = "0229de9ed6b6796ec743f27fbedd13e3"  # noqa: S105 - a made-up stream token
    error = (
        "Failed to execute quick play "
        f"http://127.0.0.1:8125/api/dashboard_cast/{token}/master.m3u8?authSig=eyJh.eyJp.22pB."
    )
    scrubbed = text_for_logs(error)
    assert token not in scrubbed
    assert "authSig" not in scrubbed
    assert scrubbed.startswith("Failed to execute quick play http://127.0.0.1:8125/api/")


async def test_webhook_starts_are_limited_per_screen_and_per_caller(
    hass: HomeAssistant,
    loaded: MockConfigEntry,
    kitchen_hub: er.RegistryEntry,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """Six starts a minute for a screen; the same caller gets no more on another screen."""
    kitchen = MockConfigEntry(
        domain=DOMAIN,
        title="Kitchen hub",
        unique_id=kitchen_hub.unique_id,
        minor_version=4,
        data={
            "target": kitchen_hub.id,
            "webhook_id": "kitchen-webhook",
            "callback_secret": CALLBACK_SECRET,
        },
        options=loaded.options,
    )
    kitchen.add_to_hass(hass)
    assert await hass.config_entries.async_setup(kitchen.entry_id)
    client = await hass_client_no_auth()
    start = json.dumps({"action": "start"}).encode()
    # The cast device is unavailable, so each start fails (503), but it counts.
    statuses = [(await post(client, "living-room-webhook", start))[0] for _ in range(7)]
    assert statuses == [503] * 6 + [429]
    assert (await post(client, "kitchen-webhook", start))[0] == 429  # same caller
