"""What a stream may be asked for: the one model of the stream options, and the codecs.

Every place that takes a stream option derives it from STREAM_OPTIONS: the
integration's options form (its selectors), the start action and the webhook
(their schema), the renderer API (its schema) and its client (the body).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import probatio


class Quality(StrEnum):
    """Quality presets: the size of the rendered page and of the video.

    AUTO is Home Assistant's to resolve from the cast device's model (a hub's
    panel, 1080p for a TV); the pipeline, which knows no device, takes it as 720p.
    """

    AUTO = "auto"
    P720 = "720p"
    P1080 = "1080p"
    NEST_HUB = "1024x600"  # the Nest Hub's panel
    # The Nest Hub Max's panel is 1280x800, but its player takes at most 720
    # lines: its 16:10 at 720 lines.
    NEST_HUB_MAX = "1152x720"


class Theme(StrEnum):
    """How the page is asked to look: follows prefers-color-scheme."""

    AUTO = "auto"
    DARK = "dark"
    LIGHT = "light"


class Orientation(StrEnum):
    """How the screen hangs: the picture is turned so that it stands upright on it.

    portrait_right: the screen is turned a quarter to the right (clockwise), its
    top edge on the right; portrait_left: to the left.
    """

    LANDSCAPE = "landscape"
    PORTRAIT_RIGHT = "portrait_right"
    PORTRAIT_LEFT = "portrait_left"


# FFmpeg's transpose that turns a portrait page upright on a screen so turned.
TRANSPOSE: Final[dict[Orientation, str | None]] = {
    Orientation.LANDSCAPE: None,
    Orientation.PORTRAIT_RIGHT: "cclock",
    Orientation.PORTRAIT_LEFT: "clock",
}

DEFAULT_QUALITY: Final = Quality.AUTO
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
DEFAULT_SCREEN_CARE: Final = False
DEFAULT_ORIENTATION: Final = Orientation.LANDSCAPE

# Page size in CSS pixels, and the encoder's rate cap, for each preset.
VIEWPORTS: Final[dict[Quality, tuple[int, int]]] = {
    Quality.AUTO: (1280, 720),
    Quality.P720: (1280, 720),
    Quality.P1080: (1920, 1080),
    Quality.NEST_HUB: (1024, 600),
    Quality.NEST_HUB_MAX: (1152, 720),
}
MAX_BITRATE_KBPS: Final[dict[Quality, int]] = {
    Quality.AUTO: 2500,
    Quality.P720: 2500,
    Quality.P1080: 5000,
    Quality.NEST_HUB: 2000,
    Quality.NEST_HUB_MAX: 2500,
}
# H.264 High profile, level 4.1: plays on a Nest Hub and a first-generation Chromecast.
H264_CODECS: Final = "avc1.640029"
# AAC-LC, the silent audio track's codec.
AAC_CODECS: Final = "mp4a.40.2"


@dataclass(frozen=True, slots=True)
class ChoiceOption:
    """One of an enumeration's values."""

    key: str
    choices: type[StrEnum]
    default: StrEnum


@dataclass(frozen=True, slots=True)
class NumberOption:
    """A number in a range; whole numbers only when whole."""

    key: str
    default: float
    minimum: float
    maximum: float
    step: float
    unit: str | None = None
    whole: bool = False


@dataclass(frozen=True, slots=True)
class SwitchOption:
    """On or off."""

    key: str
    default: bool


type StreamOption = ChoiceOption | NumberOption | SwitchOption

QUALITY: Final = ChoiceOption("quality", Quality, DEFAULT_QUALITY)
FPS: Final = NumberOption("fps", DEFAULT_FPS, MIN_FPS, MAX_FPS, 1, "fps", whole=True)
ZOOM: Final = NumberOption("zoom", DEFAULT_ZOOM, MIN_ZOOM, MAX_ZOOM, 0.05)
THEME: Final = ChoiceOption("theme", Theme, DEFAULT_THEME)
REDUCE_MOTION: Final = SwitchOption("reduce_motion", DEFAULT_REDUCE_MOTION)
SEGMENT_SECONDS: Final = NumberOption(
    "segment_seconds", DEFAULT_SEGMENT_SECONDS, MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS, 0.5, "s"
)
SILENT_AUDIO: Final = SwitchOption("silent_audio", DEFAULT_SILENT_AUDIO)
# Moves the picture by a few pixels every few minutes (OLED and plasma burn-in).
SCREEN_CARE: Final = SwitchOption("screen_care", DEFAULT_SCREEN_CARE)
ORIENTATION: Final = ChoiceOption("orientation", Orientation, DEFAULT_ORIENTATION)
# In the order forms show them; each key is a field of session.StreamOptions.
STREAM_OPTIONS: Final[tuple[StreamOption, ...]] = (
    QUALITY,
    ORIENTATION,
    FPS,
    ZOOM,
    THEME,
    REDUCE_MOTION,
    SEGMENT_SECONDS,
    SILENT_AUDIO,
    SCREEN_CARE,
)


def _number(value: Any) -> float:
    # JSON and YAML numbers only: a bool is an int to Python, a string is not a number.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise probatio.Invalid("expected a number")
    return float(value)


def _whole(value: Any) -> int:
    # A form's number field gives 5.0 for 5.
    number = _number(value)
    if not number.is_integer():
        raise probatio.Invalid("expected a whole number")
    return int(number)


def _switch(value: Any) -> bool:
    if not isinstance(value, bool):
        raise probatio.Invalid("expected true or false")
    return value


def default_value(option: StreamOption) -> Any:
    """The option's default as JSON and forms have it (a choice as its text)."""
    return option.default.value if isinstance(option, ChoiceOption) else option.default


def option_validator(option: StreamOption) -> Callable[[Any], Any]:
    """Check one option's value and turn it into the type StreamOptions has."""
    match option:
        case ChoiceOption():
            return probatio.All(str, probatio.Coerce(option.choices))
        case NumberOption(whole=True):
            return probatio.All(_whole, probatio.Range(min=option.minimum, max=option.maximum))
        case NumberOption():
            return probatio.All(_number, probatio.Range(min=option.minimum, max=option.maximum))
        case SwitchOption():
            return _switch


def stream_option_fields(*, defaults: bool) -> dict[Any, Callable[[Any], Any]]:
    """A schema's fields for every stream option, all optional (with their defaults, or not)."""
    return {
        (
            probatio.Optional(option.key, default=default_value(option))
            if defaults
            else probatio.Optional(option.key)
        ): option_validator(option)
        for option in STREAM_OPTIONS
    }


def stream_option_values(values: Mapping[str, Any], *, as_json: bool = False) -> dict[str, Any]:
    """Every stream option from values, validated; a missing one takes its default.

    Other keys are ignored. as_json: choices as their text, for storing and sending.
    Raises probatio.Invalid (its path names the option) for a value that does not fit.
    """
    schema = probatio.Schema(stream_option_fields(defaults=True), extra=probatio.REMOVE_EXTRA)
    checked: dict[str, Any] = schema(dict(values))
    if as_json:
        return {key: getattr(value, "value", value) for key, value in checked.items()}
    return checked
