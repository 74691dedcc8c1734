"""The controller's state machine, fast: no browser, no encoder, no cast device.

The session is a stand-in that is playable at once (the pipeline has tests of its
own); the cast entity is a state this test sets the way the cast integration
does, and media_player's actions are recorded. Everything else is real: the
entry, the controller, the events, Home Assistant's clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
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
    CONF_ROTATE_INTERVAL,
    CONF_ROTATION,
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
    shown: list[str] = field(default_factory=list)  # what show() was asked, in order

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

    async def show(self, dashboard: str) -> None:
        self.shown.append(dashboard)

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

    async def plays_latest(self) -> None:
        """The device plays what the latest play_media asked, and the controller sees it."""
        await settle(self.hass)
        self.device_plays(self.plays[-1])
        await settle(self.hass)
        assert self.controller.state is MediaPlayerState.PLAYING

    async def sessions_started(self, count: int) -> None:
        """Until count sessions started, in real seconds (a duration ending on its own)."""
        async with asyncio.timeout(5):
            while len(self.sessions) < count:
                await settle(self.hass)
                await asyncio.sleep(0.1)

    def shown_dashboards(self) -> list[str]:
        """The first page of each session, in order of start."""
        return [session.options.dashboard for session in self.sessions]


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


PLAYER = "media_player.living_room_tv_dashboard"


async def test_rotation_shows_each_page_in_the_same_stream(rig: Rig, hass: HomeAssistant) -> None:
    """Several pages: one session and one cast; the pages take turns and the title follows."""
    rig.controller.async_request_start(
        "lovelace/0", "lovelace/1", "https://example.com/", rotate_interval=timedelta(seconds=10)
    )
    await rig.plays_latest()
    state = hass.states.get(PLAYER)
    assert state is not None
    assert state.attributes["media_content_id"] == "lovelace/0"
    for expected in ("lovelace/1", "https://example.com/", "lovelace/0"):
        skip(hass, seconds=11)
        await settle(hass)
        assert rig.sessions[0].shown[-1] == expected
        state = hass.states.get(PLAYER)
        assert state is not None
        assert state.attributes["media_content_id"] == expected
    assert len(rig.sessions) == 1
    assert len(rig.plays) == 1  # the TV kept playing the same stream
    await rig.controller.async_request_stop()
    skip(hass, seconds=11)
    await settle(hass)
    assert rig.sessions[0].shown == ["lovelace/1", "https://example.com/", "lovelace/0"]


async def test_entry_rotation_is_the_default(rig: Rig, hass: HomeAssistant) -> None:
    """A start without pages shows the entry's dashboard, then its rotation, at its interval."""
    entry = rig.controller._entry
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_ROTATION: ["lovelace/2"], CONF_ROTATE_INTERVAL: 60}
    )
    await settle(hass)
    rig = replace(rig, controller=entry.runtime_data.controller)  # reloaded with the options
    request = rig.controller.async_request_start()
    assert request.dashboards == ("lovelace/0", "lovelace/2")
    await rig.plays_latest()
    skip(hass, seconds=30)
    await settle(hass)
    assert rig.sessions[-1].shown == []
    skip(hass, seconds=61)
    await settle(hass)
    assert rig.sessions[-1].shown == ["lovelace/2"]


async def test_return_gives_the_screen_back(rig: Rig, hass: HomeAssistant) -> None:
    """A returning start ends, and the session before it comes back, without quitting the app."""
    ended = async_capture_events(hass, EVENT_SESSION_ENDED)
    kitchen = rig.controller.async_request_start("kitchen")
    await rig.plays_latest()
    doorbell = rig.controller.async_request_start(
        "camera", duration=timedelta(seconds=30), returns=True
    )
    await rig.plays_latest()
    assert rig.controller.returns_waiting == 1
    skip(hass, seconds=31)
    await settle(hass)
    assert rig.shown_dashboards() == ["kitchen", "camera", "kitchen"]
    assert rig.controller.current is not None
    assert rig.controller.current.identity != kitchen.identity  # a new session, a new token
    assert rig.controller.current.duration is None
    assert rig.turn_offs == []  # the next stream replaced ours: no quit in between
    await rig.plays_latest()
    assert [event.data["session_id"] for event in ended] == [
        kitchen.identity.session_id,
        doorbell.identity.session_id,
    ]
    assert [event.data["reason"] for event in ended] == ["replaced", "duration"]
    assert rig.controller.returns_waiting == 0


async def test_stopping_a_returning_start_returns(rig: Rig, hass: HomeAssistant) -> None:
    """Stop on the shown page returns to what was before; a second stop ends that too."""
    rig.controller.async_request_start("kitchen")
    await rig.plays_latest()
    rig.controller.async_request_start("camera", returns=True)
    await rig.plays_latest()
    await rig.controller.async_request_stop()
    assert rig.controller.state is MediaPlayerState.BUFFERING
    await rig.plays_latest()
    assert rig.shown_dashboards() == ["kitchen", "camera", "kitchen"]
    await rig.controller.async_request_stop()
    assert rig.controller.state is MediaPlayerState.OFF
    assert len(rig.turn_offs) == 1


async def test_return_to_nothing_quits(rig: Rig, hass: HomeAssistant) -> None:
    """With nothing of ours before, a returning start ends like any other: the app quits."""
    rig.controller.async_request_start("camera", duration=timedelta(seconds=30), returns=True)
    await rig.plays_latest()
    skip(hass, seconds=31)
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.OFF
    assert len(rig.turn_offs) == 1
    assert rig.shown_dashboards() == ["camera"]


async def test_no_return_over_another_app(rig: Rig, hass: HomeAssistant) -> None:
    """Another app took the device during a returning start: it is left alone."""
    rig.controller.async_request_start("kitchen")
    await rig.plays_latest()
    rig.controller.async_request_start("camera", returns=True)
    await rig.plays_latest()
    rig.device_shows(MediaPlayerState.PLAYING, OTHER_APP)
    await settle(hass)
    skip(hass, seconds=2)
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.IDLE
    assert rig.shown_dashboards() == ["kitchen", "camera"]
    assert rig.controller.returns_waiting == 0
    assert rig.turn_offs == []


async def test_a_plain_start_forgets_the_returns(rig: Rig, hass: HomeAssistant) -> None:
    """A start without return replaces everything: nothing comes back after it."""
    rig.controller.async_request_start("kitchen")
    await rig.plays_latest()
    rig.controller.async_request_start("camera", returns=True)
    await rig.plays_latest()
    rig.controller.async_request_start("weather", duration=timedelta(seconds=30))
    await rig.plays_latest()
    assert rig.controller.returns_waiting == 0
    skip(hass, seconds=31)
    await settle(hass)
    assert rig.controller.state is MediaPlayerState.OFF
    assert rig.shown_dashboards() == ["kitchen", "camera", "weather"]


async def test_concurrent_returns_resolve_in_order(rig: Rig, hass: HomeAssistant) -> None:
    """Returns stack: each goes back to the one before, skipping one whose time is up.

    Real seconds: what is left of a duration is counted on the loop's clock.
    """
    rig.controller.async_request_start("kitchen")
    await rig.plays_latest()
    # The doorbell for 60 s; motion on the drive for 1 s interrupts it: the
    # doorbell comes back for what is left of its minute.
    rig.controller.async_request_start("doorbell", duration=timedelta(seconds=60), returns=True)
    await rig.plays_latest()
    rig.controller.async_request_start("drive", duration=timedelta(seconds=1), returns=True)
    await rig.plays_latest()
    assert rig.controller.returns_waiting == 2
    await rig.sessions_started(4)
    assert rig.shown_dashboards() == ["kitchen", "doorbell", "drive", "doorbell"]
    current = rig.controller.current
    assert current is not None
    assert current.duration is not None
    assert 50 < current.duration.total_seconds() < 60
    await rig.plays_latest()
    # Another ring of 1 s, and a drive event of 2 s during it: when the drive's
    # seconds are over, so are the second ring's, and what was before it comes
    # next: the first ring, with what is left of its minute.
    rig.controller.async_request_start("ring", duration=timedelta(seconds=1), returns=True)
    await rig.plays_latest()
    rig.controller.async_request_start("drive", duration=timedelta(seconds=2), returns=True)
    await rig.plays_latest()
    assert rig.controller.returns_waiting == 3
    await rig.sessions_started(7)
    assert rig.shown_dashboards()[4:] == ["ring", "drive", "doorbell"]
    assert rig.controller.returns_waiting == 1  # the kitchen, after the doorbell
    assert rig.turn_offs == []
