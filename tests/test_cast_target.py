"""What a cast entity's state says about our stream on the device."""

from __future__ import annotations

from typing import Any

import pytest

from custom_components.dashboard_cast.cast_target import may_show_ours
from homeassistant.core import State

OURS = "http://192.0.2.1:8123/api/dashboard_cast/0123abcd/master.m3u8?authSig=x"
DEFAULT_MEDIA_RECEIVER = {"app_id": "CC1AD845"}


def cast_state(state: str, **attributes: Any) -> State:
    return State("media_player.living_room_tv", state, attributes)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(
            cast_state("playing", media_content_id=OURS, **DEFAULT_MEDIA_RECEIVER), True, id="ours"
        ),
        # Back from a reconnect, before the media status: quitting costs nothing.
        pytest.param(cast_state("idle", **DEFAULT_MEDIA_RECEIVER), True, id="receiver-idle"),
        pytest.param(
            cast_state("playing", media_content_id="http://other/x.mp4", **DEFAULT_MEDIA_RECEIVER),
            False,
            id="someone-else-in-the-receiver",
        ),
        pytest.param(
            cast_state("playing", app_id="233637DE", media_content_id="abc"), False, id="youtube"
        ),
        pytest.param(cast_state("idle", app_id="233637DE"), False, id="another-app-idle"),
        pytest.param(cast_state("off"), False, id="off"),
        pytest.param(cast_state("unavailable"), False, id="unavailable"),
        pytest.param(None, False, id="gone"),
    ],
)
def test_may_show_ours(state: State | None, expected: bool) -> None:
    """A quit after a reconnect goes ahead only where nobody else's content would end."""
    assert may_show_ours(state) is expected
