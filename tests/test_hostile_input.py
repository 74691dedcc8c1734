"""Hostile input, generated: only clear errors come back, nothing starts, nothing changes."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dashboard_cast.const import DOMAIN
from custom_components.dashboard_cast.dashboard_cast_pipeline.options import Quality
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component

FIELDS = {"dashboard", "quality", "duration", "theme", "zoom", "keep_casting", "callback_url"}
SCHEMES = [
    "file:",
    "FILE:",
    " javascript:",
    "javascript:",
    "chrome:",
    "chrome://",
    "chrome-extension://",
    "data:",
    "about:",
    "view-source:",
    "blob:",
    "ftp://",
    "ws://",
]
ALLOWED_IN_PATH = string.ascii_letters + string.digits + "_.-/:"
EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

odd_text = st.text(max_size=200)
# Never a value in any field: containers and nothing.
not_scalar = st.one_of(
    st.none(), st.lists(odd_text, max_size=3), st.dictionaries(odd_text, odd_text, max_size=3)
)
with_scheme = st.builds(lambda scheme, rest: scheme + rest, st.sampled_from(SCHEMES), odd_text)
odd_char = st.characters(exclude_characters=ALLOWED_IN_PATH)

bad_values: dict[str, st.SearchStrategy[Any]] = {
    "dashboard": st.one_of(
        with_scheme,
        st.builds(lambda a, c, b: a + c + b, st.just("view"), odd_char, st.just("x")),
        st.text(alphabet=" \t\n\r", max_size=20),  # empty or white space
        st.just("a" * 2049),  # longer than any URL we take
        not_scalar,
    ),
    "quality": st.one_of(odd_text.filter(lambda text: text not in set(Quality)), not_scalar),
    "theme": st.one_of(
        odd_text.filter(lambda text: text not in ("auto", "dark", "light")), not_scalar
    ),
    "zoom": st.one_of(
        st.floats().filter(lambda zoom: not 0.5 <= zoom <= 3),
        st.text(alphabet=string.ascii_letters, min_size=1),
        not_scalar,
    ),
    "duration": st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=7 * 86400 + 1),
        st.text(alphabet=string.ascii_letters, min_size=1),
        st.lists(st.integers(), max_size=3),
    ),
    "keep_casting": st.one_of(st.text(alphabet="qxzw", min_size=1), not_scalar),
    "callback_url": st.one_of(
        with_scheme,
        st.text(alphabet=string.ascii_letters, max_size=50),
        st.just("http://example.com/" + "a" * 2100),
        not_scalar,
    ),
}


@st.composite
def invalid_fields(draw: st.DrawFn) -> dict[str, Any]:
    """Start fields with at least one bad value, or a field nobody knows."""
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["quality"] = draw(st.sampled_from(["720p", "1080p"]))
    if draw(st.booleans()):
        unknown = draw(st.text(min_size=1, max_size=40).filter(lambda k: k not in FIELDS))
        fields[unknown] = draw(odd_text)
        if unknown == "entity_id" or draw(st.booleans()):
            return fields | {"zoom": 99}
        return fields
    field = draw(st.sampled_from(sorted(bad_values)))
    fields[field] = draw(bad_values[field])
    return fields


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | odd_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def hostile_bodies(draw: st.DrawFn) -> bytes:
    """Webhook bodies that must be refused: not JSON, not an object, or a bad start."""
    kind = draw(st.sampled_from(["bytes", "json", "start", "action"]))
    if kind == "bytes":
        return draw(st.binary(max_size=600).filter(lambda raw: not raw.strip().startswith(b"{")))
    if kind == "json":
        return json.dumps(
            draw(json_values.filter(lambda value: not isinstance(value, dict)))
        ).encode()
    if kind == "action":
        action = draw(json_values.filter(lambda value: value not in ("start", "stop", "status")))
        return json.dumps({"action": action}).encode()
    fields = draw(invalid_fields())
    return json.dumps({"action": "start", **fields}, default=str).encode()


@pytest.fixture
async def available_player(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> str:
    """A loaded entry whose cast device is available: a valid start would begin a session."""
    assert await async_setup_component(hass, "http", {})
    hass.states.async_set(living_room_tv.entity_id, "off")
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    player = er.async_get(hass).async_get_entity_id(
        "media_player", DOMAIN, f"{config_entry.entry_id}-player"
    )
    assert player is not None
    return player


def assert_nothing_started(hass: HomeAssistant, player: str) -> None:
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.runtime_data.controller.current is None
    assert entry.runtime_data.streamer.session is None
    state = hass.states.get(player)
    assert state is not None
    assert state.state == "off"


@EXAMPLES
@given(fields=invalid_fields())
async def test_action_refuses_hostile_fields(
    hass: HomeAssistant, available_player: str, fields: dict[str, Any]
) -> None:
    """The start action raises a validation error with a message; nothing starts."""
    with pytest.raises((ServiceValidationError, probatio.Invalid)) as err:
        await hass.services.async_call(
            DOMAIN,
            "start",
            {"entity_id": available_player, **fields},
            blocking=True,
            return_response=True,
        )
    assert str(err.value).strip()
    assert_nothing_started(hass, available_player)


@EXAMPLES
@given(body=hostile_bodies())
async def test_webhook_refuses_hostile_bodies(
    hass: HomeAssistant,
    available_player: str,
    hass_client_no_auth: ClientSessionGenerator,
    body: bytes,
) -> None:
    """The webhook answers 400 with a JSON message; nothing starts."""
    client = await hass_client_no_auth()
    response = await client.post("/api/webhook/living-room-webhook", data=body)
    assert response.status == 400, await response.text()
    answer = await response.json()
    assert answer["status"] == "error"
    assert isinstance(answer["message"], str)
    assert answer["message"]
    assert_nothing_started(hass, available_player)


async def test_a_valid_start_does_start(
    hass: HomeAssistant, available_player: str, hass_client_no_auth: ClientSessionGenerator
) -> None:
    """The check above can fail: with valid fields the same fixture does start a session."""
    client = await hass_client_no_auth()
    response = await client.post(
        "/api/webhook/living-room-webhook",
        json={"action": "start", "dashboard": "lovelace/0", "zoom": 1.5},
    )
    assert response.status == 200
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert entry.runtime_data.controller.current is not None
    await entry.runtime_data.controller.async_request_stop()
