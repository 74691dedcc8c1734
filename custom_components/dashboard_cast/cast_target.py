"""Everything Google Cast: the target's cast entity, driven through the cast integration.

Not named cast.py: Home Assistant's cast integration takes an integration's
cast.py for a cast platform of its own (media browser hooks).

What a cast device shows is read from its media_player entity; it is told what
to play with media_player.play_media and to quit with turn_off. This module knows
what those states and attributes mean for us, and how the cast connection fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.components.media_player.const import (
    ATTR_APP_ID,
    ATTR_MEDIA_CONTENT_ID,
    ATTR_MEDIA_CONTENT_TYPE,
    ATTR_MEDIA_EXTRA,
    DOMAIN as MEDIA_PLAYER_DOMAIN,
    SERVICE_PLAY_MEDIA,
    MediaPlayerState,
)
from homeassistant.const import ATTR_ENTITY_ID, SERVICE_TURN_OFF, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event

from .clock import async_wait
from .const import DOMAIN, EndReason
from .dashboard_cast_pipeline.hls import HLS_CONTENT_TYPE, THUMBNAIL, URL_PREFIX
from .dashboard_cast_pipeline.options import Quality
from .dashboard_cast_pipeline.redact import text_for_logs
from .dashboard_cast_pipeline.session import SessionLogger

# Cast app ids of a device showing nothing of its own: no app, the backdrop, or
# the Default Media Receiver with nothing loaded.
DEFAULT_MEDIA_RECEIVER = "CC1AD845"
NO_APP_IDS = {None, "E8C28D3C", DEFAULT_MEDIA_RECEIVER}
SHOWING_STATES = {MediaPlayerState.PLAYING, MediaPlayerState.BUFFERING, MediaPlayerState.PAUSED}
QUIT_TIMEOUT = 20.0  # room for a second call after a cast connection reset
# pychromecast resets its connection on any socket error (two threads writing
# at once is enough: home-assistant/core#141619, and a quit answered while the
# app closes its channel meets it) and an action caught in that moment fails,
# although the device answers again a second later.
CAST_CALLS = 2
CAST_RETRY_DELAY = 1.0
CAST_RECONNECT_TIMEOUT = 10.0


class CastTarget:
    """The cast device one entry streams to, as its media_player entity shows it."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Drive the cast entity entity_id."""
        self._hass = hass
        self.entity_id = entity_id

    @property
    def state(self) -> State | None:
        """The cast entity's state now."""
        return self._hass.states.get(self.entity_id)

    async def async_play(
        self, url: str, title: str, media_info: dict[str, Any], log: SessionLogger
    ) -> None:
        """Have the device play our live HLS stream in the Default Media Receiver."""
        await self._call(
            SERVICE_PLAY_MEDIA,
            {
                ATTR_MEDIA_CONTENT_ID: url,
                ATTR_MEDIA_CONTENT_TYPE: HLS_CONTENT_TYPE,
                ATTR_MEDIA_EXTRA: {
                    "stream_type": "LIVE",
                    "title": title,
                    "thumb": url.rsplit("/", 1)[0] + "/" + THUMBNAIL,
                    "media_info": media_info,
                },
            },
            log,
            still_needed=lambda state: not shows_token(state, url),
        )

    async def async_quit(self, log: SessionLogger) -> None:
        """Quit the cast app, if it still shows a stream of ours; log when it cannot."""
        try:
            async with asyncio.timeout(QUIT_TIMEOUT):
                await self._call(SERVICE_TURN_OFF, {}, log, still_needed=may_show_ours)
        except (HomeAssistantError, TimeoutError) as err:
            log.warning("Could not stop the cast app on %s: %s", self.entity_id, err)

    async def async_wait_for(
        self,
        predicate: Callable[[State | None], bool],
        deadline: float | None,
        give_up_after: float | None = None,
    ) -> State | None:
        """Wait until the entity's state satisfies predicate; None once deadline passes.

        Past give_up_after seconds (when given), raise: the device did not do what we asked.
        """
        loop = asyncio.get_running_loop()
        found: asyncio.Future[State | None] = loop.create_future()

        @callback
        def check(state: State | None) -> None:
            if not found.done() and predicate(state):
                found.set_result(state)

        @callback
        def changed(event: Event[EventStateChangedData]) -> None:
            check(event.data["new_state"])

        unsub = async_track_state_change_event(self._hass, [self.entity_id], changed)
        # Which limit ends the wait is decided now, not by reading the clock after a
        # timeout (Home Assistant's simulated time moves timers, not loop.time()).
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        deadline_first = remaining is not None and (
            give_up_after is None or remaining <= give_up_after
        )
        try:
            check(self.state)
            limit = remaining if deadline_first else give_up_after
            async with asyncio.timeout(limit):
                return await found
        except TimeoutError:
            if deadline_first:
                return None
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="device_did_not_play",
                translation_placeholders={"target": self.entity_id},
            ) from None
        finally:
            unsub()

    async def _call(
        self,
        service: str,
        data: dict[str, Any],
        log: SessionLogger,
        still_needed: Callable[[State], bool],
    ) -> None:
        """Call a media_player action on the entity; again if the cast connection reset.

        A call caught in a reset fails even when the device did what it was asked:
        the answer is lost with the connection. So after a failure, what the device
        shows once it is back decides whether the call is repeated, or was done.
        """
        call = {ATTR_ENTITY_ID: self.entity_id, **data}
        for attempt in range(1, CAST_CALLS + 1):
            try:
                await self._hass.services.async_call(
                    MEDIA_PLAYER_DOMAIN, service, call, blocking=True
                )
            except HomeAssistantError as err:
                # The cast integration's errors quote the stream URL: never pass its token on.
                log.debug("%s failed: %s", service, text_for_logs(str(err)))
                state = await self._reconnected()
                if state is not None and not still_needed(state):
                    return
                if state is None or attempt == CAST_CALLS:
                    raise
            else:
                return

    async def _reconnected(self) -> State | None:
        """The entity's state once the cast connection is back; None if it stays gone.

        A reset reaches the state a moment after the call fails, and a device that
        reconnects reports what it shows a moment later: both moments are waited for.
        """
        await async_wait(self._hass, CAST_RETRY_DELAY)
        if is_available(self.state):
            return self.state
        try:
            await self.async_wait_for(is_available, None, CAST_RECONNECT_TIMEOUT)
        except HomeAssistantError:
            return None
        await async_wait(self._hass, CAST_RETRY_DELAY)
        state = self.state
        return state if is_available(state) else None


def shows_token(state: State | None, token: str) -> bool:
    """Tell whether the device plays the stream with this token."""
    if state is None or state.state not in SHOWING_STATES:
        return False
    content = state.attributes.get(ATTR_MEDIA_CONTENT_ID)
    return isinstance(content, str) and token in content


def shows_ours(state: State | None) -> bool:
    """Tell whether the device plays a stream of ours (this or an earlier session)."""
    if state is None or state.state not in SHOWING_STATES:
        return False
    content = state.attributes.get(ATTR_MEDIA_CONTENT_ID)
    return isinstance(content, str) and URL_PREFIX + "/" in content


def may_show_ours(state: State | None) -> bool:
    """Tell whether the device plays ours, or may once its media status is back.

    After a reconnect the Default Media Receiver is idle until its media status
    arrives; quitting it then costs nothing, leaving our stream on would.
    """
    if shows_ours(state):
        return True
    return (
        state is not None
        and state.state not in SHOWING_STATES
        and state.attributes.get(ATTR_APP_ID) == DEFAULT_MEDIA_RECEIVER
    )


def interruption(state: State | None) -> EndReason:
    """Classify how the device stopped showing our stream."""
    if state is None or state.state == STATE_UNAVAILABLE:
        return EndReason.UNAVAILABLE
    if state.state in SHOWING_STATES or state.attributes.get(ATTR_APP_ID) not in NO_APP_IDS:
        return EndReason.TAKEN_OVER
    return EndReason.STOPPED_ON_DEVICE


def is_available(state: State | None) -> bool:
    """Tell whether the cast entity is connected to its device."""
    return state is not None and state.state != STATE_UNAVAILABLE


def is_free(state: State | None) -> bool:
    """Tell whether the device shows nothing of its own (idle or off)."""
    if state is None:
        return False
    if state.state == MediaPlayerState.OFF:
        return True
    return state.state == MediaPlayerState.IDLE and state.attributes.get(ATTR_APP_ID) in NO_APP_IDS


# Cast devices whose screens are not TVs, by their model's name (the Nest Hub
# was the Home Hub once): the picture fits their panel.
HUB_QUALITIES = (
    ("nest hub max", Quality.NEST_HUB_MAX),
    ("nest hub", Quality.NEST_HUB),
    ("home hub", Quality.NEST_HUB),
)


@callback
def fitted_quality(hass: HomeAssistant, entity_id: str) -> Quality:
    """The picture that fits the cast device: a hub's panel, 1080p for a TV.

    Every Chromecast and Google TV decodes 1080p at level 4.1. A device whose
    model is unknown gets 720p, which every receiver plays.
    """
    entity = er.async_get(hass).async_get(entity_id)
    device = (
        dr.async_get(hass).async_get(entity.device_id)
        if entity is not None and entity.device_id
        else None
    )
    model = (device.model or "").casefold() if isinstance(device, dr.DeviceEntry) else ""
    for name, quality in HUB_QUALITIES:
        if name in model:
            return quality
    return Quality.P1080 if model else Quality.P720
