"""The start fields shared by the action, the media player and the webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import probatio

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import (
    ATTR_CALLBACK_URL,
    ATTR_DURATION,
    CONF_DASHBOARD,
    CONF_KEEP_CASTING,
    CONF_QUALITY,
    CONF_THEME,
    CONF_ZOOM,
    DOMAIN,
)
from .dashboard import InvalidDashboardError, normalize_dashboard
from .dashboard_cast_pipeline.options import MAX_ZOOM, MIN_ZOOM, Quality, Theme

MAX_DURATION = timedelta(days=7)
MAX_URL_LENGTH = 2048

_POSITIVE_PERIOD = probatio.Schema(cv.positive_time_period)


def _duration(value: Any) -> timedelta:
    """A positive time period; a number too big for a timedelta is invalid, not a crash."""
    try:
        period: timedelta = _POSITIVE_PERIOD(value)
    except OverflowError as err:
        raise probatio.Invalid("duration is too long") from err
    return period


START_FIELDS: dict[Any, Any] = {
    probatio.Optional(CONF_DASHBOARD): cv.string,
    probatio.Optional(CONF_QUALITY): probatio.In([quality.value for quality in Quality]),
    probatio.Optional(ATTR_DURATION): probatio.All(
        _duration, probatio.Range(min=timedelta(seconds=1), max=MAX_DURATION)
    ),
    probatio.Optional(CONF_THEME): probatio.In([theme.value for theme in Theme]),
    probatio.Optional(CONF_ZOOM): probatio.All(
        probatio.Coerce(float), probatio.Range(min=MIN_ZOOM, max=MAX_ZOOM)
    ),
    probatio.Optional(CONF_KEEP_CASTING): cv.boolean,
    probatio.Optional(ATTR_CALLBACK_URL): probatio.All(
        cv.string, probatio.Length(max=MAX_URL_LENGTH), cv.url
    ),
}


def validated_dashboard(value: str) -> str:
    """Normalize a dashboard path or URL; raise a translated error for anything else."""
    try:
        return normalize_dashboard(value)
    except InvalidDashboardError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_dashboard",
            translation_placeholders={"dashboard": str(value)[:200]},
        ) from err


def start_arguments(fields: dict[str, Any]) -> dict[str, Any]:
    """Turn validated start fields into CastController.async_request_start arguments."""
    arguments: dict[str, Any] = {}
    if CONF_DASHBOARD in fields:
        arguments["dashboard"] = validated_dashboard(fields[CONF_DASHBOARD])
    if CONF_QUALITY in fields:
        arguments["quality"] = Quality(fields[CONF_QUALITY])
    if CONF_THEME in fields:
        arguments["theme"] = Theme(fields[CONF_THEME])
    if CONF_ZOOM in fields:
        arguments["zoom"] = float(fields[CONF_ZOOM])
    if ATTR_DURATION in fields:
        arguments["duration"] = fields[ATTR_DURATION]
    if CONF_KEEP_CASTING in fields:
        arguments["keep_casting"] = fields[CONF_KEEP_CASTING]
    if ATTR_CALLBACK_URL in fields:
        arguments["callback_url"] = fields[ATTR_CALLBACK_URL]
    return arguments
