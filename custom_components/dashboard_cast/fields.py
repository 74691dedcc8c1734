"""The fields users give: the start fields, and the selectors of the options form.

The start fields serve the action, the media player and the webhook. The stream
options among them come from the pipeline's model (STREAM_OPTIONS): its keys,
kinds, defaults and limits.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import probatio

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    Selector,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)

from .const import (
    ATTR_CALLBACK_URL,
    ATTR_DURATION,
    ATTR_RETURN,
    CONF_DASHBOARD,
    CONF_KEEP_CASTING,
    CONF_ROTATE_INTERVAL,
    DOMAIN,
    MAX_ROTATE_INTERVAL,
    MAX_ROTATION,
    MIN_ROTATE_INTERVAL,
)
from .dashboard import InvalidDashboardError, normalize_dashboard
from .dashboard_cast_pipeline.options import (
    STREAM_OPTIONS,
    ChoiceOption,
    NumberOption,
    StreamOption,
    SwitchOption,
    stream_option_fields,
)

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
    # One page, or several shown in turn.
    probatio.Optional(CONF_DASHBOARD): probatio.All(
        cv.ensure_list, [cv.string], probatio.Length(min=1, max=MAX_ROTATION)
    ),
    probatio.Optional(CONF_ROTATE_INTERVAL): probatio.All(
        _duration,
        probatio.Range(
            min=timedelta(seconds=MIN_ROTATE_INTERVAL), max=timedelta(seconds=MAX_ROTATE_INTERVAL)
        ),
    ),
    probatio.Optional(ATTR_RETURN): cv.boolean,
    **stream_option_fields(defaults=False),
    probatio.Optional(ATTR_DURATION): probatio.All(
        _duration, probatio.Range(min=timedelta(seconds=1), max=MAX_DURATION)
    ),
    probatio.Optional(CONF_KEEP_CASTING): cv.boolean,
    probatio.Optional(ATTR_CALLBACK_URL): probatio.All(
        cv.string, probatio.Length(max=MAX_URL_LENGTH), cv.url
    ),
}
STREAM_OPTION_KEYS = frozenset(option.key for option in STREAM_OPTIONS)


def option_selector(option: StreamOption) -> Selector[Any]:
    """The options form's field for a stream option."""
    match option:
        case ChoiceOption():
            return SelectSelector(
                SelectSelectorConfig(
                    options=[choice.value for choice in option.choices],
                    translation_key=option.key,
                    mode=SelectSelectorMode.DROPDOWN,
                )
            )
        case NumberOption():
            config = NumberSelectorConfig(
                min=option.minimum,
                max=option.maximum,
                step=option.step,
                mode=NumberSelectorMode.BOX,
            )
            if option.unit is not None:
                config["unit_of_measurement"] = option.unit
            return NumberSelector(config)
        case SwitchOption():
            return BooleanSelector()


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


def start_arguments(fields: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Turn validated start fields into CastController.async_request_start arguments.

    Returns the pages (none: the entry's) and the keyword arguments. The stream
    options pass through as the validator typed them.
    """
    dashboards = tuple(validated_dashboard(value) for value in fields.get(CONF_DASHBOARD, ()))
    arguments = {key: value for key, value in fields.items() if key in STREAM_OPTION_KEYS}
    for key in (ATTR_DURATION, CONF_KEEP_CASTING, ATTR_CALLBACK_URL, CONF_ROTATE_INTERVAL):
        if key in fields:
            arguments[key] = fields[key]
    if ATTR_RETURN in fields:
        arguments["returns"] = fields[ATTR_RETURN]
    return dashboards, arguments
