"""Constants for Dashboard Cast."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

DOMAIN: Final = "dashboard_cast"

# Config entry data: the entity registry id (not the entity id, which the user
# may rename) of the cast media_player this entry streams to.
CONF_TARGET: Final = "target"

# Options.
CONF_DASHBOARD: Final = "dashboard"
CONF_QUALITY: Final = "quality"
CONF_FPS: Final = "fps"


class Quality(StrEnum):
    """Quality presets: the size of the rendered page and of the video."""

    P720 = "720p"
    P1080 = "1080p"


DEFAULT_DASHBOARD: Final = "lovelace/0"
DEFAULT_QUALITY: Final = Quality.P720
DEFAULT_FPS: Final = 5
MIN_FPS: Final = 1
MAX_FPS: Final = 30

CAST_DOMAIN: Final = "cast"


class Theme(StrEnum):
    """How the page is asked to look: follows prefers-color-scheme."""

    AUTO = "auto"
    DARK = "dark"
    LIGHT = "light"


DEFAULT_THEME: Final = Theme.AUTO
DEFAULT_ZOOM: Final = 1.0
DEFAULT_REDUCE_MOTION: Final = True
DEFAULT_SEGMENT_SECONDS: Final = 1.0

# Page size in CSS pixels, and the encoder's rate cap, for each preset.
VIEWPORTS: Final[dict[Quality, tuple[int, int]]] = {
    Quality.P720: (1280, 720),
    Quality.P1080: (1920, 1080),
}
MAX_BITRATE_KBPS: Final[dict[Quality, int]] = {
    Quality.P720: 2500,
    Quality.P1080: 5000,
}
# H.264 High profile, level 4.1: plays on a Nest Hub and a first-generation Chromecast.
H264_CODECS: Final = "avc1.640029"

# A browser no stream has used for this long is closed.
BROWSER_IDLE_SECONDS: Final = 60.0
