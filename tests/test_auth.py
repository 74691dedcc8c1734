"""The system user that logs the renderer in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.dashboard_cast.auth import SYSTEM_USER_NAME, async_create_session_token
from homeassistant.core import HomeAssistant


async def test_first_starts_at_once_make_one_user(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two screens starting for the first time together share one system user."""
    create = hass.auth.async_create_system_user

    async def create_as_on_disk(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.01)  # a real auth store writes a file: the other start runs
        return await create(*args, **kwargs)

    monkeypatch.setattr(hass.auth, "async_create_system_user", create_as_on_disk)
    first, second = await asyncio.gather(
        async_create_session_token(hass), async_create_session_token(hass)
    )
    ours = [user for user in await hass.auth.async_get_users() if user.name == SYSTEM_USER_NAME]
    assert len(ours) == 1
    assert ours[0].system_generated
    assert ours[0].local_only  # its tokens work from the local network only
    assert first.user is second.user is ours[0]
    assert first.token != second.token  # one per session
