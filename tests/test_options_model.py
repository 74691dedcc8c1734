"""One model of the stream options: every place that takes one derives it from STREAM_OPTIONS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import probatio
import pytest
import yaml

from custom_components.dashboard_cast.const import DEFAULT_OPTIONS
from custom_components.dashboard_cast.dashboard_cast_pipeline.options import (
    STREAM_OPTIONS,
    ChoiceOption,
    NumberOption,
    StreamOption,
    default_value,
    stream_option_values,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.server import SESSION_SCHEMA
from custom_components.dashboard_cast.dashboard_cast_pipeline.session import StreamOptions
from custom_components.dashboard_cast.fields import START_FIELDS, option_selector

INTEGRATION = Path(__file__).resolve().parents[1] / "custom_components" / "dashboard_cast"


def essentials(selector: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A selector's kind and what limits its values (not how it is shown)."""
    ((kind, config),) = selector.items()
    config = config or {}
    keep = {"number": ("min", "max", "step", "unit_of_measurement"), "select": ("options",)}
    return kind, {key: config[key] for key in keep.get(kind, ()) if key in config}


@pytest.mark.parametrize("option", STREAM_OPTIONS, ids=lambda option: option.key)
def test_action_and_form_offer_the_model(option: StreamOption) -> None:
    """services.yaml's field, the form's selector and the action's schema match the model."""
    fields = yaml.safe_load((INTEGRATION / "services.yaml").read_text())["start"]["fields"]
    form = option_selector(option).serialize()["selector"]
    assert essentials(fields[option.key]["selector"]) == essentials(form)
    assert option.key in {str(marker) for marker in START_FIELDS}
    assert DEFAULT_OPTIONS[option.key] == default_value(option)
    if isinstance(option, NumberOption):
        assert form["number"]["min"] == option.minimum
        assert form["number"]["max"] == option.maximum
    if isinstance(option, ChoiceOption):
        assert form["select"]["options"] == [choice.value for choice in option.choices]


def test_renderer_api_takes_what_the_client_sends() -> None:
    """The client's body is the model's values; the server's schema reads it back unchanged."""
    options = StreamOptions.from_values(
        "https://example.com/", {"quality": "1080p", "fps": 12, "zoom": 1.5, "silent_audio": True}
    )
    body = {"url": options.dashboard, **options.values()}
    assert set(body) == {"url", *(option.key for option in STREAM_OPTIONS)}
    assert StreamOptions.from_values(body["url"], SESSION_SCHEMA(body)) == options
    # Defaults fill what a caller leaves out.
    defaults = SESSION_SCHEMA({"url": "https://example.com/"})
    assert {key: defaults[key] for key in body if key != "url"} == {
        option.key: option.default for option in STREAM_OPTIONS
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("fps", 0),
        ("fps", 31),
        ("fps", 5.5),
        ("fps", "5"),
        ("fps", True),
        ("zoom", 3.5),
        ("quality", "4k"),
        ("theme", 1),
        ("reduce_motion", "yes"),
        ("segment_seconds", 0.1),
    ],
)
def test_every_door_refuses_the_same_values(key: str, value: Any) -> None:
    """The action, the webhook and the renderer API refuse a value the model does not allow."""
    with pytest.raises(probatio.Invalid):
        probatio.Schema(START_FIELDS)({key: value})
    with pytest.raises(probatio.Invalid):
        SESSION_SCHEMA({"url": "https://example.com/", key: value})
    with pytest.raises(probatio.Invalid):
        stream_option_values({key: value})
