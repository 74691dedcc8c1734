"""Constants for Dashboard Cast."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from .dashboard_cast_pipeline.options import (
    FPS,
    ORIENTATION,
    QUALITY,
    REDUCE_MOTION,
    SCREEN_CARE,
    SEGMENT_SECONDS,
    SILENT_AUDIO,
    STREAM_OPTIONS,
    THEME,
    ZOOM,
    default_value,
)

DOMAIN: Final = "dashboard_cast"

# Config entry data: the entity registry id (not the entity id, which the user
# may rename) of the cast media_player this entry streams to.
CONF_TARGET: Final = "target"

# Options.
CONF_DASHBOARD: Final = "dashboard"
# The stream options: their keys, kinds, defaults and limits are the pipeline's
# model (dashboard_cast_pipeline.options.STREAM_OPTIONS).
CONF_QUALITY: Final = QUALITY.key
CONF_FPS: Final = FPS.key
CONF_THEME: Final = THEME.key
CONF_ZOOM: Final = ZOOM.key
CONF_REDUCE_MOTION: Final = REDUCE_MOTION.key
CONF_SEGMENT_SECONDS: Final = SEGMENT_SECONDS.key
# A silent audio track in the stream, for receivers that play no video-only HLS.
CONF_SILENT_AUDIO: Final = SILENT_AUDIO.key
# Moves the picture by a few pixels every few minutes (OLED and plasma burn-in).
CONF_SCREEN_CARE: Final = SCREEN_CARE.key
# Landscape, or portrait for a screen hung on its side.
CONF_ORIENTATION: Final = ORIENTATION.key
CONF_KEEP_CASTING: Final = "keep_casting"
# Further dashboards shown in turn after the first, each for the rotate interval (seconds).
CONF_ROTATION: Final = "rotation"
CONF_ROTATE_INTERVAL: Final = "rotate_interval"
# The scheme, host and port the cast device fetches the stream from, when
# Home Assistant's internal URL is not reachable from the LAN.
CONF_BASE_URL: Final = "base_url"
# A renderer service (dashboard_cast_pipeline.server) to render on instead of in this process.
CONF_RENDERER_URL: Final = "renderer_url"
CONF_RENDERER_SECRET: Final = "renderer_secret"  # noqa: S105 - an option's name
# The renderer add-on's slug, for entries that render on it: discovery moves
# these entries, and only these, when the add-on's address or secret changes.
CONF_RENDERER_ADDON: Final = "renderer_addon"

# Origins (scheme://host:port) anyone who may start can show, and pages may
# reach even on loopback or the LAN (url_policy.py).
CONF_ALLOWED_ORIGINS: Final = "allowed_origins"
# Accept webhook calls from outside the local network (off: local only).
CONF_WEBHOOK_REMOTE: Final = "webhook_remote"
# Config entry data: the secret that signs status callbacks.
CONF_CALLBACK_SECRET: Final = "callback_secret"  # noqa: S105 - a key, not a secret

# Action and webhook fields beyond the options.
ATTR_CALLBACK_URL: Final = "callback_url"
ATTR_DURATION: Final = "duration"
ATTR_RETURN: Final = "return"  # when the start ends, what showed before comes back
ATTR_SESSION_ID: Final = "session_id"
ATTR_STREAM_URL: Final = "stream_url"


DEFAULT_DASHBOARD: Final = "lovelace/0"
DEFAULT_KEEP_CASTING: Final = False
DEFAULT_ROTATE_INTERVAL: Final = 30  # seconds
MIN_ROTATE_INTERVAL: Final = 5  # seconds: a page needs a moment to load
MAX_ROTATE_INTERVAL: Final = 86400
MAX_ROTATION: Final = 20  # pages in one rotation

CAST_DOMAIN: Final = "cast"

# Events on the bus, for automations.
EVENT_SESSION_STARTED: Final = f"{DOMAIN}_session_started"
EVENT_SESSION_ENDED: Final = f"{DOMAIN}_session_ended"
EVENT_SESSION_FAILED: Final = f"{DOMAIN}_session_failed"


class EndReason(StrEnum):
    """Why a session ended: in events, the entity's attributes and the log."""

    STOPPED = "stopped"  # a stop action, turn_off or the webhook
    REPLACED = "replaced"  # a new start on the same target
    DURATION = "duration"  # the requested duration passed
    UNLOADED = "unloaded"  # the entry was unloaded or Home Assistant stopped
    TAKEN_OVER = "taken_over"  # another app or other media took the device
    STOPPED_ON_DEVICE = "stopped_on_device"  # the device stopped or went idle
    UNAVAILABLE = "unavailable"  # the device went away
    FAILED = "failed"  # the pipeline or the hand-off failed


# The options of a new entry; also the fallback for an option an older entry lacks.
DEFAULT_OPTIONS: Final[dict[str, Any]] = {
    CONF_DASHBOARD: DEFAULT_DASHBOARD,
    **{option.key: default_value(option) for option in STREAM_OPTIONS},
    CONF_KEEP_CASTING: DEFAULT_KEEP_CASTING,
    CONF_ROTATION: [],
    CONF_ROTATE_INTERVAL: DEFAULT_ROTATE_INTERVAL,
    CONF_WEBHOOK_REMOTE: False,
}
