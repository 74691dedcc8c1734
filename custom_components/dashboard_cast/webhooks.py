"""The webhook: start, stop and status of one target for systems outside Home Assistant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from http import HTTPStatus
import logging
from typing import Any

from aiohttp import web
import probatio

from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.util.hass_dict import HassKey

from .const import (
    ATTR_CALLBACK_URL,
    ATTR_DURATION,
    ATTR_SESSION_ID,
    CONF_WEBHOOK_REMOTE,
    DOMAIN,
    EndReason,
)
from .dashboard_cast_pipeline.bodies import RequestError, error_response, read_json_object
from .dashboard_cast_pipeline.watchdog import SlidingWindow
from .data import DashboardCastConfigEntry
from .fields import START_FIELDS, start_arguments
from .url_policy import check_callback_url, check_may_show

_LOGGER = logging.getLogger(__name__)

START_SCHEMA = probatio.Schema(START_FIELDS)
# Starts as people make them: a few a minute, for one screen and from one caller
# (whatever screen it starts). More answer 429.
MAX_STARTS = 6
RATE_WINDOW_SECONDS = 60.0
# A start through the webhook ends after this at the latest (its default), so a
# caller that forgets to stop, or never meant to, does not hold the screen for days.
MAX_WEBHOOK_DURATION = timedelta(hours=12)
# A start with every field fits in well under this; anything larger answers 413.
MAX_BODY_BYTES = 8192
_STARTS_BY_CALLER: HassKey[dict[str, SlidingWindow]] = HassKey(f"{DOMAIN}_webhook_callers")


class StartRateLimiter:
    """Sliding windows of accepted starts: this screen's, and each caller's over all screens."""

    def __init__(
        self,
        by_caller: dict[str, SlidingWindow],
        limit: int = MAX_STARTS,
        window: float = RATE_WINDOW_SECONDS,
    ) -> None:
        """Allow limit starts per window seconds, for the screen and for each caller."""
        self._limit, self._window = limit, window
        self._starts = SlidingWindow(limit, window)
        self._by_caller = by_caller

    def allow(self, caller: str) -> bool:
        """Record a start and tell whether it is within both limits."""
        of_caller = self._by_caller.setdefault(caller, SlidingWindow(self._limit, self._window))
        if self._starts.full() or of_caller.full():
            return False
        self._starts.admit()
        of_caller.admit()
        return True


@callback
def async_register_webhook(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
    """Register the entry's webhook (POST only) until the entry unloads.

    It answers the local network only, unless the user allowed remote calls
    in the options (for example through Home Assistant Cloud).
    """
    webhook_id: str = entry.data[CONF_WEBHOOK_ID]
    limiter = StartRateLimiter(hass.data.setdefault(_STARTS_BY_CALLER, {}))

    async def handle(hass: HomeAssistant, _: str, request: web.Request) -> web.Response:
        return await _handle(hass, entry, limiter, request)

    webhook.async_register(
        hass,
        DOMAIN,
        entry.title,
        webhook_id,
        handle,
        local_only=not entry.options.get(CONF_WEBHOOK_REMOTE, False),
        allowed_methods=["POST"],
    )
    entry.async_on_unload(lambda: webhook.async_unregister(hass, webhook_id))


type _Action = Callable[
    [HomeAssistant, DashboardCastConfigEntry, StartRateLimiter, str, dict[str, Any]], str
]


async def _handle(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    request: web.Request,
) -> web.Response:
    controller = entry.runtime_data.controller
    try:
        fields = await read_json_object(request, MAX_BODY_BYTES)
        status = _action(fields)(hass, entry, limiter, request.remote or "", fields)
    except RequestError as err:
        return error_response(err.status, str(err))
    current = controller.current
    return web.json_response(
        {
            "status": status,
            ATTR_SESSION_ID: current.identity.session_id if current is not None else None,
            "state": controller.state,
        }
    )


def _action(fields: dict[str, Any]) -> _Action:
    """Pop the action's name from the fields and return its handler."""
    action = _ACTIONS.get(str(fields.pop("action", None)))
    if action is None:
        raise RequestError(HTTPStatus.BAD_REQUEST, "action must be start, stop or status")
    return action


def _start(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    caller: str,
    fields: dict[str, Any],
) -> str:
    try:
        dashboards, arguments = start_arguments(START_SCHEMA(fields))
        # Nobody in particular calls: dashboards, and other sites on the allow-list only.
        for dashboard in dashboards:
            check_may_show(entry, dashboard, trusted=False)
        if (callback_url := arguments.get(ATTR_CALLBACK_URL)) is not None:
            check_callback_url(entry, callback_url)
    except probatio.Invalid as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"Invalid field: {err}") from None
    except ServiceValidationError as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
    duration = arguments.setdefault(ATTR_DURATION, MAX_WEBHOOK_DURATION)
    if duration > MAX_WEBHOOK_DURATION:
        raise RequestError(
            HTTPStatus.BAD_REQUEST,
            f"A webhook start lasts at most {MAX_WEBHOOK_DURATION.total_seconds() / 3600:g} hours",
        )
    if not limiter.allow(caller):
        raise RequestError(HTTPStatus.TOO_MANY_REQUESTS, "Too many starts; try again shortly")
    try:
        entry.runtime_data.controller.async_request_start(*dashboards, **arguments)
    except HomeAssistantError as err:
        raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(err)) from None
    return "starting"


def _stop(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    caller: str,
    fields: dict[str, Any],
) -> str:
    if fields:
        raise RequestError(HTTPStatus.BAD_REQUEST, "stop takes no fields")
    # Answer at once; quitting the app on the device may take a moment.
    entry.async_create_background_task(
        hass,
        entry.runtime_data.controller.async_request_stop(EndReason.STOPPED),
        f"{DOMAIN} webhook stop",
    )
    return "stopping"


def _status(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    caller: str,
    fields: dict[str, Any],
) -> str:
    return "ok"


_ACTIONS: dict[str, _Action] = {"start": _start, "stop": _stop, "status": _status}
