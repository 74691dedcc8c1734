"""The read-only system user whose refresh token logs the renderer in."""

from __future__ import annotations

import asyncio
import logging

from homeassistant.auth.const import GROUP_ID_READ_ONLY
from homeassistant.auth.models import RefreshToken, User
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

_LOGGER = logging.getLogger(__name__)

SYSTEM_USER_NAME = "Dashboard Cast"
STORAGE_KEY = f"{DOMAIN}.auth"
STORAGE_VERSION = 1
# Two first starts at once must not create two users.
_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_auth_lock")


def _store(hass: HomeAssistant) -> Store[dict[str, str]]:
    return Store(hass, STORAGE_VERSION, STORAGE_KEY, private=True)


async def async_create_session_token(hass: HomeAssistant) -> RefreshToken:
    """A refresh token of the system user for one session: revoke it when the session ends.

    The user is a system user (it cannot log in with a password, and is not
    listed among people) in the read-only group, and local only: its tokens work
    from the local network only. Each session has a token of its own, so a token
    that leaks dies with its session.
    """
    async with hass.data.setdefault(_LOCK, asyncio.Lock()):
        user = await _async_system_user(hass)
    return await hass.auth.async_create_refresh_token(user)


@callback
def async_revoke_session_token(hass: HomeAssistant, token_id: str) -> None:
    """Revoke a session's token (the session ended); it may be gone already."""
    if (token := hass.auth.async_get_refresh_token(token_id)) is not None:
        hass.auth.async_remove_refresh_token(token)


async def _async_system_user(hass: HomeAssistant) -> User:
    """The system user, created once; an older one is made local only."""
    store = _store(hass)
    stored = await store.async_load() or {}
    user = None
    if user_id := stored.get("user_id"):
        user = await hass.auth.async_get_user(user_id)
    if user is None:
        user = await hass.auth.async_create_system_user(
            SYSTEM_USER_NAME, group_ids=[GROUP_ID_READ_ONLY], local_only=True
        )
        await store.async_save({"user_id": user.id})
        _LOGGER.debug("Created the read-only system user %s for rendering", SYSTEM_USER_NAME)
    elif not user.local_only:
        await hass.auth.async_update_user(user, local_only=True)
    return user


async def async_remove_system_user(hass: HomeAssistant) -> None:
    """Remove the system user and its tokens (the last entry was removed)."""
    store = _store(hass)
    stored = await store.async_load() or {}
    if (user_id := stored.get("user_id")) and (user := await hass.auth.async_get_user(user_id)):
        await hass.auth.async_remove_user(user)
        _LOGGER.debug("Removed the system user %s", SYSTEM_USER_NAME)
    await store.async_remove()
