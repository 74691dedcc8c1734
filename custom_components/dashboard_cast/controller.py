"""What users touch for one cast target: start and stop requests, hand-off, watching the TV.

A start returns as soon as it is scheduled; a background task then runs the
session: pipeline, wait for a playable stream, hand it to the cast entity with
media_player.play_media, and watch that entity until the session ends. A new
request cancels the running task and waits for its cleanup, so one target
never has two pipelines, and the last request wins.

A start may name several pages, shown in turn in the same stream (the TV keeps
playing), and may ask to return: when it ends (its duration, a stop, a
failure), what showed before comes back. What returns stack up, so concurrent
returns resolve in order; one whose duration passed meanwhile is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
import itertools
import logging
import time
from typing import Any

from homeassistant.components.media_player.const import MediaPlayerState
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .cast_target import (
    CastTarget,
    interruption,
    is_available,
    is_free,
    shows_ours,
    shows_token,
)
from .clock import async_wait
from .const import (
    CONF_DASHBOARD,
    CONF_KEEP_CASTING,
    CONF_ROTATE_INTERVAL,
    CONF_ROTATION,
    DEFAULT_KEEP_CASTING,
    DEFAULT_OPTIONS,
    DEFAULT_ROTATE_INTERVAL,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_FAILED,
    EVENT_SESSION_STARTED,
    EndReason,
)
from .dashboard import async_page_title, dashboard_title
from .dashboard_cast_pipeline.browser import PLAYWRIGHT_REQUIREMENT
from .dashboard_cast_pipeline.hls import segment_formats
from .dashboard_cast_pipeline.redact import text_for_logs, url_for_logs
from .dashboard_cast_pipeline.session import SessionIdentity, SessionLogger, session_logger
from .data import DashboardCastConfigEntry
from .status_callback import StatusCallbacks
from .streamer import DomainData, TargetStreamer, stream_base_url, stream_url

_LOGGER = logging.getLogger(__name__)

PLAYABLE_TIMEOUT = 30.0  # from start to two segments
PLAY_TIMEOUT = 20.0  # from play_media to the device reporting our stream
# keep_casting: wait this long before re-casting, doubling up to the maximum;
# a cast that played this long resets the delay.
RECAST_DELAY = 2.0
MAX_RECAST_DELAY = 300.0
STABLE_PLAY_SECONDS = 60.0
SETTLE_SECONDS = 1.0
CALLBACK_EVENTS = {
    EVENT_SESSION_STARTED: "started",
    EVENT_SESSION_ENDED: "ended",
    EVENT_SESSION_FAILED: "failed",
}
# What a status callback says of a failure: the detail (which may tell what a
# page could or could not reach) stays in Home Assistant's log and events.
CALLBACK_FAILURE = "The session failed; Home Assistant's log has the details"
DEVICE_REASONS = {EndReason.TAKEN_OVER, EndReason.STOPPED_ON_DEVICE, EndReason.UNAVAILABLE}
# A start that returns gives the screen back when it ends for one of these; when
# the device or another app ended it, the device is left as it is.
RETURN_REASONS = {EndReason.DURATION, EndReason.STOPPED, EndReason.FAILED}


@dataclass(frozen=True, slots=True)
class StartRequest:
    """One accepted start: what to show, for how long, and who it is."""

    identity: SessionIdentity
    dashboards: tuple[str, ...]  # shown in turn, each for rotate_interval, when more than one
    overrides: dict[str, Any] = field(default_factory=dict)  # StreamOptions fields
    duration: timedelta | None = None
    keep_casting: bool = False
    callback_url: str | None = None  # where status callbacks go
    rotate_interval: timedelta = timedelta(seconds=DEFAULT_ROTATE_INTERVAL)
    returns: bool = False  # when it ends, what showed before comes back

    @property
    def dashboard(self) -> str:
        """The first page: the one the session opens with."""
        return self.dashboards[0]


@dataclass(frozen=True, slots=True)
class _Return:
    """What a returning start gives the screen back to, and until when it was to show."""

    request: StartRequest
    deadline: float | None  # loop time; None: no duration


class CastController:
    """The sessions of one cast target, one at a time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: DashboardCastConfigEntry,
        data: DomainData,
        target: str,
        callbacks: StatusCallbacks,
    ) -> None:
        """Initialize with nothing running; the controller owns its target's streamer."""
        self._hass = hass
        self._entry = entry
        self._streamer = TargetStreamer(
            hass,
            entry,
            data,
            target,
            on_change=self._notify,
            on_failure=self._pipeline_failed,
        )
        self._callbacks = callbacks
        self.target = target
        self._cast = CastTarget(hass, target)
        self.state = MediaPlayerState.OFF
        self.current: StartRequest | None = None
        self.showing: str | None = None  # the page of current shown now
        self.showing_title: str | None = None
        self._deadline: float | None = None  # of current, once it counts down
        self._returns: list[_Return] = []  # newest last
        self.end_reason: EndReason | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._cancel_reasons: dict[str, EndReason] = {}
        self._failures: dict[str, str] = {}
        self._listeners: list[Callable[[], None]] = []

    @property
    def returns_waiting(self) -> int:
        """How many earlier sessions wait to come back when returning starts end."""
        return len(self._returns)

    @property
    def streamer(self) -> TargetStreamer:
        """The streamer of this target's sessions."""
        return self._streamer

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call listener whenever the state changes or a pipeline starts or stops."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    @callback
    def async_request_start(
        self,
        *dashboards: str,
        duration: timedelta | None = None,
        keep_casting: bool | None = None,
        callback_url: str | None = None,
        rotate_interval: timedelta | None = None,
        returns: bool = False,
        **overrides: Any,
    ) -> StartRequest:
        """Schedule a session replacing the running one; raise if it cannot work at all.

        dashboards: shown in turn; none: the entry's. returns: when this one
        ends, what shows now comes back.
        """
        if not self._streamer.can_render:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="no_renderer",
                translation_placeholders={"requirement": PLAYWRIGHT_REQUIREMENT},
            )
        if stream_base_url(self._hass, self._entry) is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_stream_url")
        if not is_available(self._cast.state):
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="target_unavailable",
                translation_placeholders={"target": self.target},
            )
        options = {**DEFAULT_OPTIONS, **self._entry.options}
        if not dashboards:
            dashboards = (options[CONF_DASHBOARD], *options[CONF_ROTATION])
        request = StartRequest(
            identity=SessionIdentity(self.target),
            dashboards=tuple(dashboards),
            overrides=overrides,
            duration=duration,
            keep_casting=bool(options.get(CONF_KEEP_CASTING, DEFAULT_KEEP_CASTING))
            if keep_casting is None
            else keep_casting,
            callback_url=callback_url,
            rotate_interval=rotate_interval or timedelta(seconds=options[CONF_ROTATE_INTERVAL]),
            returns=returns,
        )
        if not returns:
            self._returns.clear()
        elif self.current is not None:
            self._returns.append(_Return(self.current, self._current_deadline()))
        previous = self._task
        if previous is not None and self.current is not None:
            self._cancel(previous, self.current, EndReason.REPLACED)
        self._schedule(request)
        return request

    def _schedule(self, request: StartRequest) -> None:
        """Run request's session once the running one (if any) is gone."""
        previous = self._task
        self.current = request
        self.showing = request.dashboard
        self.showing_title = dashboard_title(self._hass, request.dashboard)
        self._deadline = None
        self.end_reason = None
        self.last_error = None
        self._task = self._entry.async_create_background_task(
            self._hass,
            self._run(request, previous),
            f"{DOMAIN} session {request.identity.session_id}",
        )
        self._set_state(MediaPlayerState.BUFFERING)

    def _current_deadline(self) -> float | None:
        """When the current session's duration ends (loop time), counted or foreseen."""
        if self._deadline is not None or self.current is None or self.current.duration is None:
            return self._deadline
        return asyncio.get_running_loop().time() + self.current.duration.total_seconds()

    def _pop_return(self) -> StartRequest | None:
        """The newest return whose duration has not passed, as a new start; None if none."""
        now = asyncio.get_running_loop().time()
        while self._returns:
            entry = self._returns.pop()
            if entry.deadline is None:
                return replace(entry.request, identity=SessionIdentity(self.target))
            if (remaining := entry.deadline - now) > 1:
                return replace(
                    entry.request,
                    identity=SessionIdentity(self.target),
                    duration=timedelta(seconds=remaining),
                )
        return None

    async def async_request_stop(self, reason: EndReason = EndReason.STOPPED) -> None:
        """End the session (if any) and wait until everything it started is gone."""
        task, current = self._task, self.current
        if task is None or current is None:
            if self.state is not MediaPlayerState.OFF:
                self.end_reason = reason
                self._set_state(MediaPlayerState.OFF)
            return
        self._cancel(task, current, reason)
        await asyncio.wait([task])

    @property
    def stream_url(self) -> str | None:
        """The running session's master playlist URL; never put it in a state attribute."""
        if self.current is None:
            return None
        return stream_url(self._hass, self._entry, self.current.identity.token)

    # -- the session task ----------------------------------------------------

    async def _run(self, request: StartRequest, previous: asyncio.Task[None] | None) -> None:
        log = session_logger(request.identity, request.dashboard)
        reason = EndReason.STOPPED
        error: str | None = None
        rotation: asyncio.Task[None] | None = None
        try:
            if previous is not None:
                await asyncio.wait([previous])  # its pipeline is gone before ours starts
            log.debug("Starting")
            await self._update_title(request)
            session = await self._streamer.async_start(
                request.identity,
                dashboard=request.dashboard,
                later=request.dashboards[1:],
                **request.overrides,
            )
            async with asyncio.timeout(PLAYABLE_TIMEOUT):
                await session.wait_playable()
            if len(request.dashboards) > 1:
                rotation = asyncio.get_running_loop().create_task(
                    self._rotate(request, log),
                    name=f"{DOMAIN} rotation {request.identity.session_id}",
                )
            reason = await self._cast_and_watch(request, log)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.pop(request.identity.session_id, EndReason.STOPPED)
            error = self._failures.pop(request.identity.session_id, None)
            raise
        # The session's boundary: whatever broke (Chromium, FFmpeg, the cast
        # integration), the session ends as failed with the reason.
        except Exception as err:  # noqa: BLE001
            reason = EndReason.FAILED
            # The cast integration's errors quote the stream URL: never pass its token on.
            error = text_for_logs(str(err) or type(err).__name__)
            log.warning("Failed: %s", error)
        finally:
            if rotation is not None:
                rotation.cancel()
                await asyncio.wait([rotation])
            await self._end(request, reason, error, log)

    async def _rotate(self, request: StartRequest, log: SessionLogger) -> None:
        """Show the request's pages in turn, in the running stream."""
        interval = request.rotate_interval.total_seconds()
        for dashboard in itertools.islice(itertools.cycle(request.dashboards), 1, None):
            await async_wait(self._hass, interval)
            try:
                await self._streamer.async_show(dashboard)
            # A page that does not open must not end the rotation: the next may.
            except Exception as err:  # noqa: BLE001
                log.warning(
                    "Could not show %s: %s", url_for_logs(dashboard), text_for_logs(str(err))
                )
                continue
            self.showing = dashboard
            await self._update_title(request)

    async def _update_title(self, request: StartRequest) -> None:
        """Title the page shown now by its view too (that takes the dashboard's configuration)."""
        showing = self.showing
        if showing is None:
            return
        title = await async_page_title(self._hass, showing)
        if self.current is request and self.showing == showing:
            self.showing_title = title
            self._notify()

    def _cancel(self, task: asyncio.Task[None], request: StartRequest, reason: EndReason) -> None:
        """Cancel a session task once: a second cancel would cut its cleanup short.

        A task already cancelled is tearing down its pipeline; cancelling it
        again would interrupt that and leave Chromium pages, FFmpeg or temp
        folders behind. Its first reason stands.
        """
        if task.cancelling():
            return
        self._cancel_reasons[request.identity.session_id] = reason
        task.cancel()

    @callback
    def _pipeline_failed(self, identity: SessionIdentity, error: str) -> None:
        """The watchdog gave up: end that session as failed, if it still runs."""
        if self._task is None or self.current is None or self.current.identity != identity:
            return
        self._failures[identity.session_id] = error
        self._cancel(self._task, self.current, EndReason.FAILED)

    async def _cast_and_watch(self, request: StartRequest, log: SessionLogger) -> EndReason:
        """Hand the stream to the device and follow it; return why the session ends."""
        loop = asyncio.get_running_loop()
        deadline = self._deadline = (
            None if request.duration is None else loop.time() + request.duration.total_seconds()
        )
        delay = RECAST_DELAY
        announced = False
        token = request.identity.token
        while True:
            self._set_state(MediaPlayerState.BUFFERING)
            await self._hand_off(request, log)
            shown = await self._cast.async_wait_for(
                lambda state: shows_token(state, token), deadline, PLAY_TIMEOUT
            )
            if shown is None:
                return EndReason.DURATION
            self._set_state(MediaPlayerState.PLAYING)
            if not announced:
                announced = True
                log.debug("Playing on %s", self.target)
                self._fire(EVENT_SESSION_STARTED, request)
            played_at = loop.time()
            gone = await self._cast.async_wait_for(
                lambda state: not shows_token(state, token), deadline
            )
            if gone is None:
                return EndReason.DURATION
            # A takeover arrives as several messages (our transport closes, the
            # new app appears): judge the state once it has settled.
            await async_wait(self._hass, SETTLE_SECONDS)
            reason = interruption(self._cast.state)
            log.debug("The device stopped showing the dashboard: %s", reason)
            if not request.keep_casting:
                return reason
            self.end_reason = reason
            self._set_state(MediaPlayerState.IDLE)
            if loop.time() - played_at >= STABLE_PLAY_SECONDS:
                delay = RECAST_DELAY
            # Never over other content: wait until the device is free, then a
            # little longer, and look again.
            while True:
                if await self._cast.async_wait_for(is_free, deadline) is None:
                    return EndReason.DURATION
                if deadline is not None and loop.time() + delay >= deadline:
                    return EndReason.DURATION
                await async_wait(self._hass, delay)
                delay = min(delay * 2, MAX_RECAST_DELAY)
                if is_free(self._cast.state):
                    break
            log.debug("Casting again")

    async def _hand_off(self, request: StartRequest, log: SessionLogger) -> None:
        """Ask the cast entity to play our stream: Home Assistant's own play_media."""
        url = self.stream_url
        if url is None:
            raise HomeAssistantError(translation_domain=DOMAIN, translation_key="no_stream_url")
        session = self._streamer.session
        silent_audio = session is not None and session.options.silent_audio
        await self._cast.async_play(
            url,
            self.showing_title or dashboard_title(self._hass, request.dashboard),
            segment_formats(silent_audio=silent_audio),
            log,
        )

    async def _end(
        self, request: StartRequest, reason: EndReason, error: str | None, log: SessionLogger
    ) -> None:
        """Stop the pipeline; give the screen back, or quit the app if it shows ours.

        A returning start hands over to what it returns to without quitting the
        app: the next stream replaces ours on the device.
        """
        await self._streamer.async_stop()
        restore = None
        if self.current is request:  # not replaced by a newer request
            if request.returns and reason in RETURN_REASONS:
                restore = self._pop_return()
            else:
                self._returns.clear()
        if (
            restore is None
            and reason in (EndReason.STOPPED, EndReason.DURATION)
            and shows_ours(self._cast.state)
        ):
            await self._cast.async_quit(log)
        if restore is not None and self.current is request:
            log.debug("Returning to %s", url_for_logs(restore.dashboard))
            self._schedule(restore)
        elif self.current is request:
            self.current = None
            self.showing = self.showing_title = None
            self._task = None
            self.end_reason = reason
            self.last_error = error
            self._set_state(
                MediaPlayerState.IDLE if reason in DEVICE_REASONS else MediaPlayerState.OFF
            )
        if reason is EndReason.FAILED:
            self._fire(EVENT_SESSION_FAILED, request, reason, error)
        else:
            self._fire(EVENT_SESSION_ENDED, request, reason)
        log.debug("Ended: %s", reason)

    # -- helpers -------------------------------------------------------------

    def _set_state(self, state: MediaPlayerState) -> None:
        self.state = state
        self._notify()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def _fire(
        self,
        event_type: str,
        request: StartRequest,
        reason: EndReason | None = None,
        error: str | None = None,
    ) -> None:
        data: dict[str, Any] = {
            "entry_id": self._entry.entry_id,
            "target": self.target,
            CONF_DASHBOARD: url_for_logs(request.dashboard),  # no credentials in events
            "session_id": request.identity.session_id,
        }
        if reason is not None:
            data["reason"] = reason.value
        if error is not None:
            data["error"] = error
        self._hass.bus.async_fire(event_type, data)
        if request.callback_url is not None:
            status = {"event": CALLBACK_EVENTS[event_type], "timestamp": time.time(), **data}
            if error is not None:  # the caller outside learns that it failed, not how
                status["error"] = CALLBACK_FAILURE
            self._callbacks.async_send(request.callback_url, status)
