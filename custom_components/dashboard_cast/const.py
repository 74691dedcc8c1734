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
