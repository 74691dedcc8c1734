"""What a stream may be asked for: presets, defaults and limits, and the codecs it is made of."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Quality(StrEnum):
    """Quality presets: the size of the rendered page and of the video."""

    P720 = "720p"
    P1080 = "1080p"


class Theme(StrEnum):
    """How the page is asked to look: follows prefers-color-scheme."""

    AUTO = "auto"
    DARK = "dark"
    LIGHT = "light"


DEFAULT_QUALITY: Final = Quality.P720
DEFAULT_FPS: Final = 5
MIN_FPS: Final = 1
MAX_FPS: Final = 30
DEFAULT_THEME: Final = Theme.AUTO
DEFAULT_ZOOM: Final = 1.0
MIN_ZOOM: Final = 0.5
MAX_ZOOM: Final = 3.0
DEFAULT_REDUCE_MOTION: Final = True
DEFAULT_SEGMENT_SECONDS: Final = 0.5
MIN_SEGMENT_SECONDS: Final = 0.5
MAX_SEGMENT_SECONDS: Final = 4.0
DEFAULT_SILENT_AUDIO: Final = False

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
# AAC-LC, the silent audio track's codec.
AAC_CODECS: Final = "mp4a.40.2"
