"""The controller's state machine, fast: no browser, no encoder, no cast device.

The session is a stand-in that is playable at once (the pipeline has tests of its
own); the cast entity is a state this test sets the way the cast integration
does, and media_player's actions are recorded. Everything else is real: the
entry, the controller, the events, Home Assistant's clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_mock_service,
)

from custom_components.dashboard_cast.const import (
    CONF_BASE_URL,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
)
from custom_components.dashboard_cast.controller import CastController
from custom_components.dashboard_cast.dashboard_cast_pipeline.session import (
    SessionIdentity,
    StreamOptions,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.watchdog import PipelineStats
from custom_components.dashboard_cast.streamer import TargetStreamer
from homeassistant.components.media_player import MediaPlayerState
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

OTHER_APP = "YouTube"


@dataclass
class PlayableSession:
    """A RenderSession that renders nothing and is playable at once."""

    options: StreamOptions
    identity: SessionIdentity
    stats: PipelineStats = field(default_factory=PipelineStats)
    stopped: bool = False

    @property
    def session_id(self) -> str:
        return self.identity.session_id

    @property
    def token(self) -> str:
        return self.identity.token

    async def start(self) -> None:
        return None

    async def wait_playable(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def reload(self) -> None:
        return None

    async def frame(self) -> bytes | None:
        return None

    def ffmpeg_cpu_seconds(self) -> float:
        return 0.0


@dataclass
class Rig:
    """The controller under test, the cast entity it drives, and what it asked of it."""

    hass: HomeAssistant
    controller: CastController
    cast: str
    plays: list[ServiceCall]
    turn_offs: list[ServiceCall]
    sessions: list[PlayableSession]

    def device_plays(self, call: ServiceCall) -> None:
        """The device does what play_media asked."""
        self.hass.states.async_set(
            self.cast,
            MediaPlayerState.PLAYING,
            {"media_content_id": call.data["media_content_id"], "app_id": "CC1AD845"},
        )

    def device_shows(self, state: str, app_id: str | None = None) -> None:
        self.hass.states.async_set(self.cast, state, {"app_id": app_id} if app_id else {})


async def settle(hass: HomeAssistant) -> None:
    """Let the session task (a background task, which block_till_done skips) catch up."""
    for _ in range(20):
        await hass.async_block_till_done()
        await asyncio.sleep(0)


def skip(hass: HomeAssistant, **delta: float) -> None:
    """Move Home Assistant's clock on."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(**delta))


@pytest.fixture
async def rig(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    living_room_tv: er.RegistryEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> Rig:
    """A loaded entry whose cast device is off and whose sessions are stand-ins."""
    sessions: list[PlayableSession] = []

    async def start(
        self: TargetStreamer, identity: SessionIdentity | None = None, **overrides: Any
    ) -> PlayableSession:
        options = StreamOptions.from_values(overrides.pop("dashboard"), overrides)
        assert identity is not None
        await self.async_stop()
        session = PlayableSession(options, identity)
        sessions.append(session)
        self.session = session  # type: ignore[assignment]
        return session

    monkeypatch.setattr(TargetStreamer, "async_start", start)
    hass.config_entries.async_update_entry(
        config_entry,
        options={**config_entry.options, CONF_BASE_URL: "http://192.168.1.10:8123"},
    )
    hass.states.async_set(living_room_tv.entity_id, MediaPlayerState.OFF)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    return Rig(
        hass,
        config_entry.runtime_data.controller,
        living_room_tv.entity_id,
        async_mock_service(hass, "media_player", "play_media"),
        async_mock_service(hass, "media_player", "turn_off"),
        sessions,
    )


async def test_start_play_takeover(rig: Rig, hass: HomeAssistant) -> None:
    """Buffering until the device plays our stream; another app taking over ends it as idle."""
    started = async_capture_events(hass, EVENT_SESSION_STARTED)
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    request = rig.controller.async_request_start("lovelace/0")
    assert rig.controller.state is MediaPlayerState.BUFFERING
    await settle(hass)
    (play,) = rig.plays
    assert request.identity.token in play.data["media_content_id"]
    assert rig.controller.state is MediaPlayerState.BUFFERING  # asked, not yet playing

    rig.device_plays(play)
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.PLAYING
    assert [event.data["session_id"] for event in started] == [request.identity.session_id]

    rig.device_shows(MediaPlayerState.PLAYING, OTHER_APP)
    await settle(hass)
    skip(hass, seconds=2)  # the controller lets a takeover settle for a second
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.IDLE
    assert [event.data["reason"] for event in ended] == ["taken_over"]
    assert rig.sessions[0].stopped
    assert rig.turn_offs == []  # never quits another app


async def test_stop_quits_our_app(rig: Rig, hass: HomeAssistant) -> None:
    """Stop: the pipeline goes, the device's app is quit, the player is off."""
    rig.controller.async_request_start("lovelace/0")
    await settle(hass)
    rig.device_plays(rig.plays[0])
    await settle(hass)
    await rig.controller.async_request_stop()
    assert rig.controller.state is MediaPlayerState.OFF
    assert len(rig.turn_offs) == 1
    assert rig.sessions[0].stopped


async def test_duration_ends_the_session(rig: Rig, hass: HomeAssistant) -> None:
    """A session with a duration ends by itself, as 'duration', on Home Assistant's clock."""
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    rig.controller.async_request_start("lovelace/0", duration=timedelta(minutes=10))
    await settle(hass)
    rig.device_plays(rig.plays[0])
    await settle(hass)
    skip(hass, minutes=11)
    await settle(hass)
    assert [event.data["reason"] for event in ended] == ["duration"]
    assert rig.controller.state is MediaPlayerState.OFF


async def test_a_new_start_replaces_the_running_one(rig: Rig, hass: HomeAssistant) -> None:
    """The last request wins; the first ends as replaced and its pipeline is gone first."""
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    first = rig.controller.async_request_start("lovelace/0")
    await settle(hass)
    second = rig.controller.async_request_start("lovelace/1")
    await settle(hass)
    assert [event.data["session_id"] for event in ended] == [first.identity.session_id]
    assert ended[0].data["reason"] == "replaced"
    assert rig.sessions[0].stopped
    assert not rig.sessions[1].stopped
    assert rig.controller.current is second
    assert second.identity.token in rig.plays[-1].data["media_content_id"]


async def test_keep_casting_waits_until_the_device_is_free(rig: Rig, hass: HomeAssistant) -> None:
    """Interrupted with keep_casting: idle while another app plays, cast again once it is off."""
    rig.controller.async_request_start("lovelace/0", keep_casting=True)
    await settle(hass)
    rig.device_plays(rig.plays[0])
    await settle(hass)

    rig.device_shows(MediaPlayerState.PLAYING, OTHER_APP)
    await settle(hass)
    skip(hass, seconds=2)
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.IDLE
    skip(hass, minutes=10)
    await settle(hass)
    assert len(rig.plays) == 1  # never over other content

    rig.device_shows(MediaPlayerState.OFF)
    await settle(hass)
    skip(hass, seconds=3)  # the first re-cast waits 2 s
    await settle(hass)
    assert len(rig.plays) == 2
    assert rig.controller.state is MediaPlayerState.BUFFERING
