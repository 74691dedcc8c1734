"""The read-only system user whose refresh token logs the renderer in."""

from __future__ import annotations

import asyncio
import logging

from homeassistant.auth.const import GROUP_ID_READ_ONLY
from homeassistant.core import HomeAssistant
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


async def async_get_refresh_token(hass: HomeAssistant) -> str:
    """Return the system user's refresh token, creating user and token once.

    The user is a system user (it cannot log in with a password, and is not
    listed among people) in the read-only group: it may look at dashboards and
    states, never change them.
    """
    async with hass.data.setdefault(_LOCK, asyncio.Lock()):
        return await _async_get_refresh_token(hass)


async def _async_get_refresh_token(hass: HomeAssistant) -> str:
    store = _store(hass)
    stored = await store.async_load() or {}
    user = None
    if user_id := stored.get("user_id"):
        user = await hass.auth.async_get_user(user_id)
    if user is None:
        user = await hass.auth.async_create_system_user(
            SYSTEM_USER_NAME, group_ids=[GROUP_ID_READ_ONLY]
        )
        await store.async_save({"user_id": user.id})
        _LOGGER.debug("Created the read-only system user %s for rendering", SYSTEM_USER_NAME)
    if user.refresh_tokens:
        return next(iter(user.refresh_tokens.values())).token
    return (await hass.auth.async_create_refresh_token(user)).token


async def async_remove_system_user(hass: HomeAssistant) -> None:
    """Remove the system user and its tokens (the last entry was removed)."""
    store = _store(hass)
    stored = await store.async_load() or {}
    if (user_id := stored.get("user_id")) and (user := await hass.auth.async_get_user(user_id)):
        await hass.auth.async_remove_user(user)
        _LOGGER.debug("Removed the system user %s", SYSTEM_USER_NAME)
    await store.async_remove()
