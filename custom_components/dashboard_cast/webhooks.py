"""The webhook: start, stop and status of one target for systems outside Home Assistant."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
import json
import logging
from typing import Any

from aiohttp import web
import probatio

from homeassistant.components import webhook
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import ATTR_SESSION_ID, CONF_WEBHOOK_REMOTE, DOMAIN, EndReason
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


class _RequestError(Exception):
    """Answer the caller with this status and message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _handle(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    request: web.Request,
) -> web.Response:
    controller = entry.runtime_data.controller
    try:
        fields = await _json_object(request)
        status = _action(fields)(hass, entry, limiter, fields)
    except _RequestError as err:
        return web.json_response({"status": "error", "message": str(err)}, status=err.status)
    current = controller.current
    return web.json_response(
        {
            "status": status,
            ATTR_SESSION_ID: current.identity.session_id if current is not None else None,
            "state": controller.state,
        }
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    too_large = _RequestError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body must be at most {MAX_BODY_BYTES} bytes"
    )
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise too_large
    raw = await request.content.read(MAX_BODY_BYTES + 1)  # never more, whatever is sent
    if len(raw) > MAX_BODY_BYTES:
        raise too_large
    try:
        body: Any = json.loads(raw)
    except ValueError, RecursionError:  # also bytes that are not UTF-8, or nested too deep
        raise _RequestError(HTTPStatus.BAD_REQUEST, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _RequestError(HTTPStatus.BAD_REQUEST, "The body must be a JSON object")
    return dict(body)


def _action(fields: dict[str, Any]) -> _Action:
    """Pop the action's name from the fields and return its handler."""
    action = _ACTIONS.get(str(fields.pop("action", None)))
    if action is None:
        raise _RequestError(HTTPStatus.BAD_REQUEST, "action must be start, stop or status")
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
        raise _RequestError(HTTPStatus.BAD_REQUEST, f"Invalid field: {err}") from None
    except ServiceValidationError as err:
        raise _RequestError(HTTPStatus.BAD_REQUEST, str(err)) from None
    if not limiter.allow():
        raise _RequestError(HTTPStatus.TOO_MANY_REQUESTS, "Too many starts; try again shortly")
    try:
        entry.runtime_data.controller.async_request_start(**arguments)
    except HomeAssistantError as err:
        raise _RequestError(HTTPStatus.SERVICE_UNAVAILABLE, str(err)) from None
    return "starting"


def _stop(
    hass: HomeAssistant,
    entry: DashboardCastConfigEntry,
    limiter: StartRateLimiter,
    fields: dict[str, Any],
) -> str:
    if fields:
        raise _RequestError(HTTPStatus.BAD_REQUEST, "stop takes no fields")
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
