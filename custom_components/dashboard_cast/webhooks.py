"""The webhook: start, stop and status of one target for systems outside Home Assistant."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
import logging
from typing import Any

from aiohttp import web
import probatio

from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import ATTR_SESSION_ID, CONF_WEBHOOK_REMOTE, DOMAIN, EndReason
from .dashboard_cast_pipeline.bodies import RequestError, error_response, read_json_object
from .dashboard_cast_pipeline.watchdog import SlidingWindow
from .data import DashboardCastConfigEntry
from .fields import START_FIELDS, start_arguments

_LOGGER = logging.getLogger(__name__)

START_SCHEMA = probatio.Schema(START_FIELDS)
# More starts than this within the window, for one target, answer 429.
MAX_STARTS = 3
RATE_WINDOW_SECONDS = 1.0
# A start with every field fits in well under this; anything larger answers 413.
MAX_BODY_BYTES = 8192


class StartRateLimiter:
    """A sliding window of accepted starts."""

    def __init__(self, limit: int = MAX_STARTS, window: float = RATE_WINDOW_SECONDS) -> None:
        """Allow limit starts per window seconds."""
        self._starts = SlidingWindow(limit, window)

    def allow(self) -> bool:
        """Record a start and tell whether it is within the limit."""
        return self._starts.admit() is not None


@callback
def async_register_webhook(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
    """Register the entry's webhook (POST only) until the entry unloads.

    It answers the local network only, unless the user allowed remote calls
    in the options (for example through Home Assistant Cloud).
    """
    webhook_id: str = entry.data[CONF_WEBHOOK_ID]
    limiter = StartRateLimiter()

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
    [HomeAssistant, DashboardCastConfigEntry, StartRateLimiter, dict[str, Any]], str
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
        status = _action(fields)(hass, entry, limiter, fields)
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
    fields: dict[str, Any],
) -> str:
    try:
        arguments = start_arguments(START_SCHEMA(fields))
    except probatio.Invalid as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"Invalid field: {err}") from None
    except ServiceValidationError as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
    if not limiter.allow():
        raise RequestError(HTTPStatus.TOO_MANY_REQUESTS, "Too many starts; try again shortly")
    try:
        entry.runtime_data.controller.async_request_start(**arguments)
    except HomeAssistantError as err:
        raise RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(err)) from None
    return "starting"


def _stop(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
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
    fields: dict[str, Any],
) -> str:
    return "ok"


_ACTIONS: dict[str, _Action] = {"start": _start, "stop": _stop, "status": _status}
