"""Who may show what, where callbacks go, where logins travel: attacks, through real calls."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from aiohttp import web
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    DOMAIN,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.client import is_this_machine
from custom_components.dashboard_cast.status_callback import StatusCallbacks
from custom_components.dashboard_cast.url_policy import check_callback_url
from custom_components.dashboard_cast.webhooks import MAX_WEBHOOK_DURATION
from homeassistant.auth.const import GROUP_ID_USER
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .media import serve
from .test_hostile_input import assert_nothing_started, available_player  # noqa: F401

# Sites the tests start, when allowed: on loopback, where nothing listens (a
# session's page goes nowhere else, even if it got as far as loading).
ALLOWED = "http://127.0.0.1:9"
FAST_RETRIES = (0.01, 0.02, 0.04)


@pytest.fixture
async def viewer(hass: HomeAssistant, hass_owner_user: User) -> User:
    """A user who is no administrator (and not the first user, who would own the instance)."""
    user = await hass.auth.async_create_user("Viewer", group_ids=[GROUP_ID_USER])
    assert not user.is_admin
    return user


def entry_of(hass: HomeAssistant) -> MockConfigEntry:
    entry: MockConfigEntry = hass.config_entries.async_entries(DOMAIN)[0]
    return entry


async def allow(hass: HomeAssistant, *origins: str) -> None:
    """Put origins on the entry's allow-list (as the options form does), reloading it."""
    entry = entry_of(hass)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ALLOWED_ORIGINS: list(origins)}
    )
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()


async def start(hass: HomeAssistant, player: str, user: User | None, **fields: Any) -> Any:
    return await hass.services.async_call(
        DOMAIN,
        "start",
        {"entity_id": player, **fields},
        blocking=True,
        return_response=True,
        context=Context(user_id=user.id if user is not None else None),
    )


async def stop_all(hass: HomeAssistant) -> None:
    await entry_of(hass).runtime_data.controller.async_request_stop()


async def test_a_user_shows_dashboards_and_allowed_sites_only(
    hass: HomeAssistant,
    available_player: str,  # noqa: F811
    viewer: User,
) -> None:
    """Another site, even a public one, is refused with a translated error; nothing starts."""
    for dashboard in (
        "https://example.com/",
        "http://192.168.1.1/",
        "http://[::1]:8123/",
        ["lovelace/0", "https://example.com/"],  # one page of a rotation is enough
    ):
        with pytest.raises(ServiceValidationError) as err:
            await start(hass, available_player, viewer, dashboard=dashboard)
        assert err.value.translation_key == "url_not_allowed"
        assert "administrators" in str(err.value)
        assert_nothing_started(hass, available_player)
    # play_media is held to the same rule.
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            "media_player",
            "play_media",
            {
                "entity_id": available_player,
                "media_content_id": "https://example.com/",
                "media_content_type": "dashboard",
            },
            blocking=True,
            context=Context(user_id=viewer.id),
        )
    assert_nothing_started(hass, available_player)
    # The control: a dashboard of this instance, and an allow-listed site, do start.
    answer = await start(hass, available_player, viewer, dashboard="lovelace/0")
    assert answer[available_player]["session_id"]
    await stop_all(hass)
    await allow(hass, ALLOWED)
    answer = await start(hass, available_player, viewer, dashboard=ALLOWED + "/d/home")
    assert answer[available_player]["stream_url"]
    await stop_all(hass)


async def test_administrators_and_automations_show_any_site(
    hass: HomeAssistant,
    available_player: str,  # noqa: F811
    hass_admin_user: User,
) -> None:
    """An administrator's call, and one with no user (an automation), may name any site."""
    for user in (hass_admin_user, None):
        answer = await start(hass, available_player, user, dashboard="http://127.0.0.1:9/")
        assert answer[available_player]["session_id"]
        await stop_all(hass)


async def test_callbacks_into_the_lan_are_refused_at_the_call(
    hass: HomeAssistant,
    available_player: str,  # noqa: F811
    hass_admin_user: User,
) -> None:
    """A callback to a loopback or LAN address is refused, even an administrator's."""
    for url in ("http://127.0.0.1:8123/api/webhook/x", "http://10.0.0.8/", "http://[fe80::1]/"):
        with pytest.raises(ServiceValidationError) as err:
            await start(hass, available_player, hass_admin_user, callback_url=url)
        assert err.value.translation_key == "callback_not_allowed"
    assert_nothing_started(hass, available_player)
    # The control: allow-listed, the same address passes (no session: it would call it).
    await allow(hass, "http://10.0.0.8")
    check_callback_url(entry_of(hass), "http://10.0.0.8/hook")


async def test_webhook_shows_dashboards_and_allowed_sites_for_a_limited_time(
    hass: HomeAssistant,
    available_player: str,  # noqa: F811
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """A webhook caller is nobody in particular: allow-list only, and at most 12 hours."""
    client = await hass_client_no_auth()
    url = "/api/webhook/living-room-webhook"
    for body in (
        {"action": "start", "dashboard": "https://example.com/"},
        {"action": "start", "dashboard": ["lovelace/0", "https://example.com/"]},
        {"action": "start", "dashboard": "http://169.254.169.254/latest/meta-data/"},
        {"action": "start", "callback_url": "http://192.168.1.1:22/"},
        {"action": "start", "duration": "12:00:01"},
    ):
        response = await client.post(url, json=body)
        assert response.status == 400, body
        assert (await response.json())["status"] == "error"
        assert_nothing_started(hass, available_player)
    response = await client.post(url, json={"action": "start", "dashboard": "lovelace/0"})
    assert response.status == 200
    current = entry_of(hass).runtime_data.controller.current
    assert current is not None
    assert current.duration == MAX_WEBHOOK_DURATION  # a default, where the caller named none
    await stop_all(hass)


@pytest.mark.usefixtures("socket_enabled")
async def test_a_callback_whose_name_resolves_into_the_lan_is_not_delivered(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """The name passes the call's check; the delivery looks it up and refuses, once."""
    received: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/status", handle)
    runner, port = await serve(app)
    callbacks = StatusCallbacks(hass, config_entry)
    try:
        with patch("custom_components.dashboard_cast.status_callback.RETRY_DELAYS", FAST_RETRIES):
            await callbacks.async_send(f"http://localhost:{port}/status", {"event": "started"})
            assert (callbacks.delivered, callbacks.failed) == (0, 1)
            assert "not a public address" in (callbacks.last_error or "")
            assert received == []
            # The control: allow-listed, the same receiver gets it.
            hass.config_entries.async_update_entry(
                config_entry, options={CONF_ALLOWED_ORIGINS: [f"http://127.0.0.1:{port}"]}
            )
            await callbacks.async_send(f"http://127.0.0.1:{port}/status", {"event": "started"})
    finally:
        await runner.cleanup()
    assert callbacks.delivered == 1
    assert len(received) == 1


async def test_no_login_goes_to_a_renderer_across_the_network_in_plain_text(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A dashboard on a plain-http renderer elsewhere fails before any token exists."""
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            **config_entry.options,
            CONF_RENDERER_URL: "http://192.0.2.10:8099",  # TEST-NET: never contacted
            CONF_RENDERER_SECRET: "s" * 32,
        },
    )
    # Setup asks the renderer whether it answers: this one is not there to ask.
    with patch(
        "custom_components.dashboard_cast.RendererClient.health", return_value={"status": "ok"}
    ):
        assert await hass.config_entries.async_setup(config_entry.entry_id)
    streamer = config_entry.runtime_data.streamer
    before = await refresh_tokens(hass)
    with pytest.raises(HomeAssistantError) as err:
        await streamer.async_start(dashboard="lovelace/0")
    assert err.value.translation_key == "renderer_insecure"
    assert await refresh_tokens(hass) == before
    assert streamer.session is None


async def refresh_tokens(hass: HomeAssistant) -> set[str]:
    return {
        token_id for user in await hass.auth.async_get_users() for token_id in user.refresh_tokens
    }


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("192.0.2.10", False)],
)
async def test_this_machine_is_loopback_or_its_own_addresses(host: str, expected: bool) -> None:
    """Logins may go over http to this machine only."""
    assert await is_this_machine(host) is expected
