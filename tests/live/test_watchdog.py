"""The watchdog: a crashed or hung part restarts behind the same URL while the TV plays."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import os
import signal
from typing import Any
from unittest.mock import patch

import pytest
from pytest_homeassistant_custom_component.common import async_capture_events

from custom_components.dashboard_cast.const import DOMAIN, EVENT_SESSION_FAILED
from custom_components.dashboard_cast.dashboard_cast_pipeline.session import StreamSession
from custom_components.dashboard_cast.streamer import DATA_DOMAIN
from homeassistant.core import HomeAssistant

from ..cast_emulator import CastDevice
from ..media import fetch, pipeline_processes
from .conftest import BLUE, RED, ColourPage, wait_for
from .test_cast import TV, add_player, state_of, wait_for_screen

pytestmark = pytest.mark.usefixtures("socket_enabled")


async def play(
    hass: HomeAssistant, colour_page: ColourPage, tv: CastDevice
) -> tuple[str, StreamSession]:
    """Cast the colour page to the TV; return our player and the running session."""
    entry, player = await add_player(hass, tv, colour_page.url)
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await wait_for_screen(tv, RED)
    session = entry.runtime_data.streamer.session
    assert session is not None
    return player, session


async def media_playlist(session: StreamSession, base_url: str) -> str:
    url = f"{base_url}/api/dashboard_cast/{session.token}/media.m3u8"
    return (await fetch(url)).decode()


def kill_ffmpeg(session: StreamSession) -> None:
    assert session.encoder is not None
    assert session.encoder.pid is not None
    os.kill(session.encoder.pid, signal.SIGKILL)


def freeze_ffmpeg(session: StreamSession) -> None:
    """A hang: FFmpeg stops and writes nothing more, but does not exit."""
    assert session.encoder is not None
    assert session.encoder.pid is not None
    os.kill(session.encoder.pid, signal.SIGSTOP)


def kill_chromium(session: StreamSession) -> None:
    for pid in session._pool.processes():
        # A sandboxed renderer dies with its zygote: it may be gone already.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def freeze_chromium(session: StreamSession) -> None:
    """A hang: every Chromium process stops and answers nothing."""
    for pid in session._pool.processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)


async def crash_page(session: StreamSession) -> None:
    page = session._page
    assert page is not None
    cdp = await page.context.new_cdp_session(page)
    with contextlib.suppress(Exception):  # the page dies before it can answer
        await cdp.send("Page.crash")


def timeline_lag(session: StreamSession) -> float:
    """Seconds the stream's published timeline is behind the clock it keeps pace with."""
    encoder = session.encoder
    assert encoder is not None
    assert encoder.timeline_origin is not None
    on_the_clock = asyncio.get_running_loop().time() - encoder.timeline_origin
    return on_the_clock - encoder.playlist.next_frame / session.options.fps


async def _sync(action: Callable[[StreamSession], None], session: StreamSession) -> None:
    action(session)


FAULTS: dict[str, Callable[[StreamSession], Awaitable[None]]] = {
    "ffmpeg_exit": lambda session: _sync(kill_ffmpeg, session),
    "ffmpeg_hang": lambda session: _sync(freeze_ffmpeg, session),
    "chromium_crash": lambda session: _sync(kill_chromium, session),
    "chromium_hang": lambda session: _sync(freeze_chromium, session),
    "page_crash": crash_page,
}


@pytest.mark.parametrize("fault", FAULTS)
async def test_part_restarts_in_place(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
    fault: str,
) -> None:
    """After the fault the TV keeps its stream URL and follows the page again."""
    tv = cast_devices[TV]
    player, session = await play(hass, colour_page, tv)
    launches = hass.data[DATA_DOMAIN].pool.launches

    await FAULTS[fault](session)
    if fault == "ffmpeg_hang":
        # A still page's segments need no FFmpeg: the hang tells once the page changes.
        colour_page.colour = "#0000ff"
    await wait_for(lambda: session.stats.restarts == 1, timeout=15)
    colour_page.colour = "#0000ff"
    await wait_for_screen(tv, BLUE)

    assert len(tv.loads) == 1  # never re-cast: the same URL went on playing
    # Still on the clock: a new encoder filled the time the old one was silent
    # (players' live edge follows the clock). Behind by the segment being made,
    # once the fill is published: the change can show in its first segment
    # while FFmpeg still encodes the rest (seconds, on a loaded machine).
    await wait_for(lambda: -0.5 < timeline_lag(session) < 1.0, timeout=5)
    assert state_of(hass, player) == "playing"
    assert session.stats.restarts == 1
    assert session.stats.last_error
    assert list(pipeline_processes().values()).count("ffmpeg") == 1
    playlist = await media_playlist(session, base_url)
    if fault.startswith("ffmpeg"):
        assert "#EXT-X-DISCONTINUITY" in playlist  # a new encoder's stream
        assert "FFmpeg" in (session.stats.last_error or "")
        assert hass.data[DATA_DOMAIN].pool.launches == launches
    elif fault.startswith("chromium"):
        assert hass.data[DATA_DOMAIN].pool.launches == launches + 1
    else:
        assert hass.data[DATA_DOMAIN].pool.launches == launches  # only the page reopened
        assert session.stats.last_error == "The page crashed"
    attributes = hass.states.get(player).attributes  # type: ignore[union-attr]
    assert attributes["end_reason"] is None


async def test_repeated_failures_end_the_session_as_failed(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """A part that keeps failing backs off, then the session fails with the reason."""
    tv = cast_devices[TV]
    failed = async_capture_events(hass, EVENT_SESSION_FAILED)
    with patch(
        "custom_components.dashboard_cast.dashboard_cast_pipeline.watchdog.RESTART_DELAYS",
        (0.0, 0.2, 0.4),
    ):
        player, session = await play(hass, colour_page, tv)
        stream = f"{base_url}/api/dashboard_cast/{session.token}/master.m3u8"
        for restarts in range(1, 4):
            kill_ffmpeg(session)
            await wait_for(
                lambda restarts=restarts: (
                    session.stats.restarts == restarts  # type: ignore[misc]
                    and session.encoder is not None
                    and session.encoder.returncode is None
                    and session.encoder.pid is not None
                ),
                timeout=10,
            )
        kill_ffmpeg(session)
        await wait_for(lambda: state_of(hass, player) == "off", timeout=10)

    attributes: dict[str, Any] = hass.states.get(player).attributes  # type: ignore[union-attr]
    assert attributes["end_reason"] == "failed"
    assert "FFmpeg exited" in attributes["last_error"]
    assert len(failed) == 1
    assert failed[0].data["reason"] == "failed"
    assert "FFmpeg exited" in failed[0].data["error"]
    assert "ffmpeg" not in pipeline_processes().values()
    assert session.out_dir is None
    with pytest.raises(AssertionError, match="404"):
        await fetch(stream)


# Fills its memory, then its main thread: it stops answering before the memory
# guard's next look (which this test pushes out of reach).
HOARD_THEN_HANG = """() => {
  globalThis.hoard = new Float64Array(48 * 1024 * 1024).fill(1);
  setTimeout(() => { for (;;) {} }, 0);
}"""


@pytest.mark.usefixtures("socket_enabled", "base_url")
async def test_a_page_that_hoards_memory_and_hangs_is_stopped_for_its_memory(
    hass: HomeAssistant,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """The hang probe looks at memory first: the restart names memory, not a hang."""
    tv = cast_devices[TV]
    with patch(
        "custom_components.dashboard_cast.dashboard_cast_pipeline.browser.MEMORY_CHECK_SECONDS",
        3600.0,
    ):
        _, session = await play(hass, colour_page, tv)
        pool = hass.data[DATA_DOMAIN].pool
        pool.page_memory_limit = 256 * 2**20
        assert session._page is not None
        await session._page.evaluate(HOARD_THEN_HANG)
        await wait_for(lambda: session.stats.restarts == 1, timeout=15)
        colour_page.colour = "#0000ff"
        await wait_for_screen(tv, BLUE)

    assert session.stats.last_error == "The page crashed: it used more than 256 MB of memory"
    assert pool.memory_stopped_at is not None
