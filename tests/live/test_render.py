"""The render pipeline end to end: real Chromium, real FFmpeg, real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from pathlib import Path
import shutil

from aiohttp import ClientSession
import psutil
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.dashboard_cast.auth import STORAGE_KEY
from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_DASHBOARD,
    CONF_FPS,
    CONF_QUALITY,
    CONF_TARGET,
    DOMAIN,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline import browser
from custom_components.dashboard_cast.dashboard_cast_pipeline.hls import stream_path
from custom_components.dashboard_cast.dashboard_cast_pipeline.options import H264_CODECS
from custom_components.dashboard_cast.streamer import DATA_DOMAIN, TargetStreamer
from homeassistant.auth.const import GROUP_ID_READ_ONLY
from homeassistant.components.camera import async_get_image, async_get_stream_source
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component

from ..cross_origin import check_blocking_reload, check_stream_serving
from ..media import pipeline_processes, probe
from .conftest import BLUE, RED, ColourPage, release_pipeline, wait_for_colour

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def streamer(
    hass: HomeAssistant,
    base_url: str,
    config_entry: MockConfigEntry,
    colour_page: ColourPage,
) -> AsyncGenerator[TargetStreamer]:
    """A loaded entry showing the colour page at 5 fps; its cast device is connected (off)."""
    cast = er.async_get(hass).async_get(config_entry.data[CONF_TARGET])
    assert cast is not None
    hass.states.async_set(cast.entity_id, "off")
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            **config_entry.options,
            CONF_DASHBOARD: colour_page.url,
            CONF_ALLOWED_ORIGINS: [colour_page.origin],
            CONF_FPS: 5,
            CONF_QUALITY: "720p",  # these tests check 720p's figures
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry.runtime_data.streamer
    if config_entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(config_entry.entry_id)
    await release_pipeline(hass)


async def test_stream_shows_page_and_follows_changes(
    streamer: TargetStreamer, base_url: str, colour_page: ColourPage
) -> None:
    """A red page decodes red; turned blue, the stream turns blue."""
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    url = base_url + stream_path(session.token)

    await wait_for_colour(url, RED)
    colour_page.colour = "#0000ff"
    await wait_for_colour(url, BLUE)
    assert session.capture is not None
    assert session.encoder is not None
    assert session.out_dir is not None
    # In this instance's folder, which the next start of Home Assistant sweeps.
    assert session.out_dir.parent == streamer._data.work_dir
    # The feeder repeats frames; the damage-driven screencast sends far fewer.
    assert session.stats.frames_in < session.encoder.frames_out


def x264_settings(segment: bytes) -> dict[str, str]:
    """The encoder settings x264 writes into its first frame ("options: cabac=1 ref=1 ...")."""
    text = segment.split(b"options: ", 1)[1].split(b"\0", 1)[0].decode()
    return dict(option.split("=", 1) for option in text.split() if "=" in option)


async def test_stream_format_and_http(streamer: TargetStreamer, base_url: str) -> None:
    """H.264 High 4.1 yuv420p at the preset's size and rate, served as HLS with CORS."""
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    master = base_url + stream_path(session.token)

    async with ClientSession() as http:
        async with http.get(master) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/vnd.apple.mpegurl"
            text = await resp.text()
        assert f'CODECS="{H264_CODECS}"' in text
        assert "RESOLUTION=1280x720" in text
        assert "BANDWIDTH=" in text
        media = master.replace("master.m3u8", "media.m3u8")
        async with http.get(media) as resp:
            assert resp.status == 200
            playlist = await resp.text()
        assert '#EXT-X-MAP:URI="init.mp4"' in playlist
        segment = next(line for line in playlist.splitlines() if line.endswith(".m4s"))
        async with http.get(master.replace("master.m3u8", "init.mp4")) as resp:
            assert resp.status == 200
            assert resp.content_type == "video/mp4"
        async with http.get(master.replace("master.m3u8", segment)) as resp:
            assert resp.status == 200
            assert resp.content_type == "video/iso.segment"
        # x264 writes its settings into the stream's first frame.
        async with http.get(master.replace("master.m3u8", "segment_00000.m4s")) as resp:
            assert resp.status == 200
            settings = x264_settings(await resp.read())
        # The cheap analysis that keeps High profile, deblocked, with adaptive
        # quantization (no ringing on flat backgrounds), in one thread at 720p5.
        assert settings["cabac"] == "1"
        assert settings["8x8dct"] == "1"
        assert settings["deblock"] == "1:0:0"
        assert settings["aq"].startswith("1:")
        assert settings["threads"] == "1"
        for name in ("../secret", "other.txt", "segment_1.m4s"):
            async with http.get(master.replace("master.m3u8", name)) as resp:
                assert resp.status == 404

    await check_stream_serving(master)
    await check_blocking_reload(master)

    stream = await probe(master)
    assert stream["codec_name"] == "h264"
    assert stream["profile"] == "High"
    assert stream["level"] <= 41
    assert stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (1280, 720)
    assert stream["r_frame_rate"] == "5/1"


async def test_stop_revokes_urls_and_leaves_nothing(
    hass: HomeAssistant, streamer: TargetStreamer, base_url: str
) -> None:
    """After stop: every URL answers 404, no process and no temp folder remain."""
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    out_dir = session.out_dir
    assert out_dir is not None
    assert out_dir.is_dir()
    assert {"ffmpeg"} <= set(pipeline_processes().values())
    master = base_url + stream_path(session.token)

    await streamer.async_stop()
    async with ClientSession() as http:
        for name in ("master.m3u8", "media.m3u8", "init.mp4"):
            async with http.get(master.replace("master.m3u8", name)) as resp:
                assert resp.status == 404
    assert not Path(out_dir).exists()
    assert "ffmpeg" not in pipeline_processes().values()

    # The shared browser stays for the next stream until it idles out; closing
    # it leaves no Chromium either.
    await hass.data[DATA_DOMAIN].pool.async_close()
    assert pipeline_processes() == {}


async def test_replace_keeps_one_pipeline(streamer: TargetStreamer, base_url: str) -> None:
    """Starting again replaces the session: one FFmpeg, the old URL is dead."""
    first = await streamer.async_start()
    second = await streamer.async_start()
    await asyncio.wait_for(second.wait_playable(), 30)
    assert list(pipeline_processes().values()).count("ffmpeg") == 1
    async with ClientSession() as http:
        async with http.get(base_url + stream_path(first.token)) as resp:
            assert resp.status == 404
        async with http.get(base_url + stream_path(second.token)) as resp:
            assert resp.status == 200


async def test_unload_and_shutdown_leave_no_process(
    hass: HomeAssistant, streamer: TargetStreamer, config_entry: MockConfigEntry
) -> None:
    """Unloading the entry ends its stream; stopping Home Assistant closes Chromium."""
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    assert "ffmpeg" not in pipeline_processes().values()
    assert streamer.session is None

    assert await hass.config_entries.async_setup(config_entry.entry_id)
    session = await config_entry.runtime_data.streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    # What Home Assistant's shutdown does for us: the stop event.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert config_entry.runtime_data.streamer.session is None
    assert pipeline_processes() == {}


async def test_camera_preview_is_latest_frame(
    hass: HomeAssistant, streamer: TargetStreamer, base_url: str, config_entry: MockConfigEntry
) -> None:
    """The preview camera shows the rendered page and offers the stream while it runs."""
    camera = er.async_get(hass).async_get_entity_id(
        "camera", "dashboard_cast", f"{config_entry.entry_id}-preview"
    )
    assert camera is not None
    assert hass.states.get(camera).state == "idle"
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    await hass.async_block_till_done()
    assert hass.states.get(camera).state == "streaming"

    image = await async_get_image(hass, camera)
    assert image.content_type == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert await async_get_stream_source(hass, camera) == base_url + stream_path(session.token)

    await streamer.async_stop()
    await hass.async_block_till_done()
    assert hass.states.get(camera).state == "idle"
    assert await async_get_stream_source(hass, camera) is None


async def test_dashboard_renders_logged_in_as_read_only_system_user(
    hass: HomeAssistant, streamer: TargetStreamer, base_url: str
) -> None:
    """A dashboard that needs login renders as our system user, not the login page."""
    assert await async_setup_component(hass, "lovelace", {})
    session = await streamer.async_start(dashboard="lovelace/0")
    await asyncio.wait_for(session.wait_playable(), 30)
    page = session._page
    assert page is not None

    # The frontend exchanged our refresh token for an access token and shows the panel.
    await page.wait_for_function(
        "() => document.querySelector('home-assistant')?.hass?.user?.name", timeout=30000
    )
    name = await page.evaluate("document.querySelector('home-assistant').hass.user.name")
    assert name == "Dashboard Cast"
    # Home Assistant may redirect an unconfigured default dashboard; never to a login.
    assert page.url.startswith(base_url)
    assert "/auth/" not in page.url
    assert "onboarding" not in page.url

    users = [user for user in await hass.auth.async_get_users() if user.name == "Dashboard Cast"]
    assert len(users) == 1
    user = users[0]
    assert user.system_generated
    assert not user.is_admin
    assert [group.id for group in user.groups] == [GROUP_ID_READ_ONLY]
    assert user.local_only
    (token,) = user.refresh_tokens.values()  # the session's own
    assert token.last_used_at is not None
    await streamer.async_stop()
    assert user.refresh_tokens == {}  # revoked with the session


async def test_other_site_gets_no_token(streamer: TargetStreamer, colour_page: ColourPage) -> None:
    """An absolute URL of another site loads with nothing of ours in its storage."""
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    page = session._page
    assert page is not None
    assert await page.evaluate("localStorage.getItem('hassTokens')") is None


# Removing the user revokes the tokens of the frontend still connected in
# Chromium; the heartbeat timer of that websocket inside aiohttp can outlive the
# test. It is Home Assistant's timer, not ours; every other test checks timers.
@pytest.mark.parametrize("expected_lingering_timers", [True])
async def test_last_entry_removal_removes_system_user(
    hass: HomeAssistant, streamer: TargetStreamer, config_entry: MockConfigEntry, base_url: str
) -> None:
    """The system user and its stored id go with the last entry."""
    assert await async_setup_component(hass, "lovelace", {})
    session = await streamer.async_start(dashboard="lovelace/0")
    await asyncio.wait_for(session.wait_playable(), 30)
    assert any(user.name == "Dashboard Cast" for user in await hass.auth.async_get_users())

    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert not any(user.name == "Dashboard Cast" for user in await hass.auth.async_get_users())
    assert not Path(hass.config.path(".storage", STORAGE_KEY)).exists()


async def test_segment_length_follows_option(streamer: TargetStreamer, base_url: str) -> None:
    """Segments last what the option says, each starting with a keyframe."""
    session = await streamer.async_start(segment_seconds=2.0)
    await asyncio.wait_for(session.wait_playable(), 30)
    media = base_url + stream_path(session.token, "media.m3u8")
    async with ClientSession() as http, http.get(media) as resp:
        playlist = await resp.text()
    assert "#EXT-X-TARGETDURATION:2" in playlist
    durations = [
        float(line.split(":")[1].rstrip(","))
        for line in playlist.splitlines()
        if line.startswith("#EXTINF")
    ]
    assert durations
    assert all(abs(duration - 2.0) < 0.01 for duration in durations)


async def test_chromium_that_does_not_start_fails_cleanly(
    hass: HomeAssistant,
    base_url: str,
    config_entry: MockConfigEntry,
    colour_page: ColourPage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A "chromium" on the PATH that is no browser: the start fails, with a repair, nothing left."""
    monkeypatch.setattr(browser, "find_chromium", lambda **_: "/bin/true")
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            **config_entry.options,
            CONF_DASHBOARD: colour_page.url,
            CONF_ALLOWED_ORIGINS: [colour_page.origin],
        },
    )
    assert await async_setup_component(hass, "dashboard_cast", {})
    await hass.async_block_till_done()
    with pytest.raises(Exception, match="/bin/true"):
        await config_entry.runtime_data.streamer.async_start()
    assert config_entry.runtime_data.streamer.session is None
    assert pipeline_processes() == {}
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "chromium_missing")
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["error"]
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    await release_pipeline(hass)


async def test_chromium_gets_none_of_our_environment(
    hass: HomeAssistant, streamer: TargetStreamer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret in Home Assistant's environment never reaches the browser; its temp is ours."""
    monkeypatch.setenv("SUPERVISOR_TOKEN", "not-for-any-page-" + "4" * 16)  # before it launches
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    domain = hass.data[DATA_DOMAIN]
    processes = domain.pool.processes()
    assert processes
    environs = {pid: Path(f"/proc/{pid}/environ").read_bytes().split(b"\0") for pid in processes}
    for environ in environs.values():
        assert not any(var.startswith(b"SUPERVISOR_TOKEN=") for var in environ)
    # The browser process itself (its helpers write their titles over theirs).
    browser = domain.pool.browser_pid
    assert browser == processes[0]
    assert psutil.Process(browser).ppid() == os.getpid()  # ours, not Playwright's driver's
    assert f"TMPDIR={domain.work_dir / 'browser' / 'home'}".encode() in environs[browser]


def _renderer_processes(pids: list[int]) -> list[int]:
    """Chromium's renderer processes, the ones that run pages."""
    found = []
    for pid in pids:
        try:
            if "--type=renderer" in psutil.Process(pid).cmdline():
                found.append(pid)
        except psutil.Error:
            continue
    return found


def _seccomp_mode(pid: int) -> int:
    """0: no seccomp filter; 2: a filter (Chromium's sandbox installs one in each renderer)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    raise AssertionError("no Seccomp line")


async def test_the_full_browser_starts_in_a_deep_temp_folder(tmp_path: Path) -> None:
    """Its singleton socket's path may not exceed 107 bytes, whatever the temp folder.

    Home Assistant's temp folder may be deep (TMPDIR): Chromium then keeps its
    temp files in the system's, and takes them with it when it closes.
    """
    deep = tmp_path / ("deeper-" * 6) / "dashboard_cast-0e2898b5ae7c" / "browser"
    assert len(os.fsencode(deep / "home")) > browser.LONGEST_TMPDIR
    pool = browser.BrowserPool(shutil.which("chromium"), temp_dir=deep)
    try:
        running = await pool.acquire()
        assert running.is_connected()
        assert pool._chromium is not None
        socket = (pool._chromium.profile / "SingletonSocket").readlink()
        assert socket.parent.parent == Path(browser.SHORT_TMPDIR)
        assert socket.parent.is_dir()
        pool.release()
    finally:
        await pool.async_close()
    assert not socket.parent.exists()


@pytest.mark.parametrize("build", ["chromium-headless-shell", "chromium"])
async def test_chromium_runs_sandboxed_as_an_account_of_its_own(
    hass: HomeAssistant, streamer: TargetStreamer, monkeypatch: pytest.MonkeyPatch, build: str
) -> None:
    """Root runs these tests: Chromium runs as another account, its pages in its sandbox.

    The headless shell (chosen where Chromium has an account of its own) keeps
    its network service out of the sandbox; the full browser sandboxes it too.
    """
    executable = "/usr/lib/chromium/chromium-headless-shell" if "headless" in build else build
    found = browser.find_chromium()
    monkeypatch.setattr(browser, "find_chromium", lambda **_: shutil.which(executable))
    assert found == "/usr/lib/chromium/chromium-headless-shell"  # what it picks by itself
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    domain = hass.data[DATA_DOMAIN]
    isolation = domain.pool.isolation
    assert isolation is not None
    assert isolation.sandbox, isolation.reason
    assert isolation.user == "nobody"
    assert isolation.network_sandbox is (build == "chromium")
    processes = domain.pool.processes()
    assert {psutil.Process(pid).uids().effective for pid in processes} == {65534}
    renderers = _renderer_processes(processes)
    assert renderers
    assert {_seccomp_mode(pid) for pid in renderers} == {2}
    # The network service, which parses what pages send and receive: Chromium's
    # account either way, and sandboxed in the full browser.
    (network,) = [
        pid
        for pid in processes
        if "--utility-sub-type=network.mojom.NetworkService" in psutil.Process(pid).cmdline()
    ]
    assert psutil.Process(network).uids().effective == 65534
    sandbox_type = "network" if isolation.network_sandbox else "none"
    assert f"--service-sandbox-type={sandbox_type}" in psutil.Process(network).cmdline()
    assert _seccomp_mode(network) == (2 if isolation.network_sandbox else 0)
    # The zygote for processes that sandbox themselves after the fork: the full
    # browser's network service is one; the headless shell has none to start.
    unsandboxed_zygotes = [
        pid
        for pid in processes
        if {"--type=zygote", "--no-zygote-sandbox"} <= set(psutil.Process(pid).cmdline())
    ]
    assert len(unsandboxed_zygotes) == (1 if build == "chromium" else 0)
    # What runs as root next (the launcher) is not Chromium's to change.
    launcher = domain.work_dir / "browser" / "launch-chromium"
    assert launcher.stat().st_uid == 0
    assert launcher.stat().st_mode & 0o077 == 0
    assert (domain.work_dir / "browser").stat().st_uid == 0
    assert ir.async_get(hass).async_get_issue(DOMAIN, "browser_unsandboxed") is None


async def test_without_a_usable_sandbox_chromium_runs_and_a_repair_says_why(
    hass: HomeAssistant, streamer: TargetStreamer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chromium kept as root refuses its sandbox: it runs without, and the user learns why."""
    monkeypatch.setattr(browser, "chromium_account", lambda: None)  # stays root
    session = await streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    domain = hass.data[DATA_DOMAIN]
    assert domain.pool.isolation is not None
    assert not domain.pool.isolation.sandbox
    assert "root" in (domain.pool.isolation.reason or "")
    renderers = _renderer_processes(domain.pool.processes())
    assert renderers
    assert {_seccomp_mode(pid) for pid in renderers} == {0}
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "browser_unsandboxed")
    assert issue is not None
    assert issue.translation_placeholders == {
        "user": "root",
        "reason": domain.pool.isolation.reason,
    }
