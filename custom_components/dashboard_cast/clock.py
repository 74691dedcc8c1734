"""Waiting on Home Assistant's clock, so tests skip a wait with async_fire_time_changed."""

from __future__ import annotations

import asyncio
from datetime import datetime

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_call_later


async def async_wait(hass: HomeAssistant, seconds: float) -> None:
    """Return after seconds, as Home Assistant's scheduler counts them."""
    if seconds <= 0:
        return
    elapsed: asyncio.Future[None] = hass.loop.create_future()

    @callback
    def done(_: datetime) -> None:
        if not elapsed.done():
            elapsed.set_result(None)

    cancel = async_call_later(hass, seconds, done)
    try:
        await elapsed
    finally:
        cancel()
