"""Benchmark Dashboard Cast inside a real Home Assistant: CPU, start-up, latency, memory, response.

Run with scripts/bench [--seconds N] [--cases a,b] [--json]. It starts `hass`
(like scripts/develop, in a fresh config folder), an emulated Chromecast on
127.0.0.2 set up through the Google Cast config flow, and Dashboard Cast
through its own config flow; then it starts each case with the
dashboard_cast.start action and measures, from outside:

- CPU-seconds per second of stream over the steady-state window, for Chromium,
  FFmpeg and Home Assistant (its rate minus its idle rate measured first);
- first_playable_s: from the start call to a media playlist listing 2 segments;
- change_latency_s: from a colour change on the page to the newest segment
  showing it (median of 9; static pages only);
- for e2e_shaka_720p5, the picture on the TV: the emulated device plays the
  stream in Shaka Player from another origin (tests/receiver.py), and the row
  tells first_frame_s (LOAD to the first presented frame), stalls (the
  picture frozen for 0.5 s or more) and player_seeks (the player moved its
  playhead on its own) over the window, Shaka's live latency, and
  change_to_pixels_s (median of 9 colour changes to the first presented
  frame showing them);
- proportional set size of Chromium and FFmpeg, and the stream's bitrate;
- for parallel10_static_720p5, ten emulated devices (127.0.0.2 and
  127.0.0.30-38), each with its entry, showing the static page at once: the
  total CPU and PSS of all ten streams, and what each stream after the first
  adds to Chromium's PSS;
- the seeds' reference pipeline (bench_reference.py: Xvfb, the full Chromium,
  x11grab at 30 frames/s, x264 fast at 2.5 Mbit/s, silent AAC, 2 s TS HLS) on
  the static and spinner pages, and ours against it as ratios (ours/reference)
  of total CPU and of PSS;
- the floor (bench_floor.py: our Chromium alone, a picture at every tick of
  5 frames/s, nothing else) on the spinner and canvas pages, and ours against
  it: Chromium's part and the whole stream, as ratios to the floor, which
  moves with the machine's speed from run to run as absolute figures do;
- then the response time of the start action and the webhook while starts
  replace each other (p50, p95, max).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable
import contextlib
import json
import os
from pathlib import Path
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

import bench_floor  # noqa: E402
import bench_reference  # noqa: E402
from bench_reference import pids_by_role  # noqa: E402
import develop  # noqa: E402

from custom_components.dashboard_cast.dashboard_cast_pipeline.watchdog import (  # noqa: E402
    cpu_seconds as process_cpu_seconds,
)
from tests.cast_emulator import CastDevice  # noqa: E402
from tests.media import close_to, colour_of, descendants, newest_segment  # noqa: E402
from tests.receiver import (  # noqa: E402
    PlayingScreen,
    shaka_receiver,
    wait_until_playing,
    watch_playback,
)
from tests.running_ha import (  # noqa: E402
    RunningHomeAssistant as HomeAssistant,
    listed_segments,
)

CAST_HOST = "127.0.0.2"
# The further devices of the parallel case: 127.0.0.30, .31, ...
FURTHER_CAST_HOSTS = "127.0.0.{}"
FURTHER_CAST_FIRST = 30
SETTLE_SECONDS = 3.0
FLOOR_FPS = 5  # the cases' stream rate
IDLE_SECONDS = 10.0
CHANGES = 9
RESPONSE_SAMPLES = 40
WEBHOOK_SAMPLES = 5  # the webhook takes six starts a minute
# Still until told otherwise: the colour arrives as a server-sent event, the
# way a dashboard hears of a state change over its websocket, so the page does
# no work of its own between changes.
STATIC_PAGE = """<!doctype html><html><body style="margin:0;background:#204060;
font:48px sans-serif;color:white"><h1 style="margin:40px">Static test page</h1>
<script>
new EventSource("/events").onmessage = (e) => { document.body.style.background = e.data; };
</script></body></html>"""
SPINNER_PAGE = """<!doctype html><html><head><style>
@keyframes spin { to { transform: rotate(360deg); } }
.s { width: 200px; height: 200px; margin: 200px auto; border: 24px solid #ddd;
     border-top-color: #e33; border-radius: 50%; animation: spin 1s linear infinite; }
</style></head><body style="margin:0;background:#222"><div class="s"></div></body></html>"""
# A canvas redrawn on every animation frame (a chart or gauge drawn by script).
RAF_PAGE = """<!doctype html><html><body style="margin:0;background:#111">
<canvas id="c" width="1280" height="720"></canvas><script>
const ctx = document.getElementById("c").getContext("2d");
function draw(t) {
  ctx.fillStyle = "#111"; ctx.fillRect(0, 0, 1280, 720);
  ctx.fillStyle = "#3c9"; ctx.fillRect(640 + 400 * Math.sin(t / 500), 300, 120, 120);
  requestAnimationFrame(draw);
}
requestAnimationFrame(draw);
</script></body></html>"""
# A clock that ticks once a second, as a dashboard's clock card does.
CLOCK_PAGE = """<!doctype html><html><body style="margin:0;background:#102030;
font:120px sans-serif;color:white"><div id="t" style="margin:200px auto;text-align:center"></div>
<script>
const tick = () => { document.getElementById("t").textContent = new Date().toLocaleTimeString(); };
tick(); setInterval(tick, 1000);
</script></body></html>"""
# A looping H.264 video, as a live camera card shows one.
VIDEO_PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<video src="/video.mp4" autoplay muted loop playsinline style="width:100%;height:100%"></video>
</body></html>"""
CASES: dict[str, dict[str, Any]] = {
    "static_720p5": {"page": "static", "quality": "720p"},
    "spinner_720p5": {"page": "spinner", "quality": "720p"},
    "spinner_720p5_motion": {"page": "spinner", "quality": "720p", "reduce_motion": False},
    "static_1080p5": {"page": "static", "quality": "1080p"},
    # The same still page with the silent audio track on.
    "static_720p5_sound": {"page": "static", "quality": "720p", "silent_audio": True},
    "dashboard_720p5": {"page": "dashboard", "quality": "720p"},
    "raf_720p5": {"page": "raf", "quality": "720p"},
    # Zoomed in: laid out at half the size, drawn at every pixel of the stream.
    "raf_720p5_zoom2": {"page": "raf", "quality": "720p", "zoom": 2.0},
    "clock_720p5": {"page": "clock", "quality": "720p"},
    "video_720p5": {"page": "video", "quality": "720p"},
    # Ten screens at once (one browser, a context per stream).
    "parallel10_static_720p5": {"page": "static", "quality": "720p", "streams": 10},
    # The picture in the receiver's player, end to end; the window is at least 3 minutes.
    "e2e_shaka_720p5": {"page": "static", "quality": "720p", "receiver": True},
    # The seeds' reference pipeline (bench_reference.py) on the same pages, animations running.
    "reference_static_720p30": {"page": "static", "reference": True},
    "reference_spinner_720p30": {"page": "spinner", "reference": True},
    # Chromium alone on our clock, a picture every tick (bench_floor.py).
    "floor_spinner_720p5": {"page": "spinner", "floor": True},
    "floor_raf_720p5": {"page": "raf", "floor": True},
}
# Ours against the reference, page by page: (our case, the reference's case).
COMPARED = (
    ("static_720p5", "reference_static_720p30"),
    ("spinner_720p5_motion", "reference_spinner_720p30"),
)
# Ours against Chromium alone, page by page: (our case, the floor's case).
ABOVE_FLOOR = (
    ("spinner_720p5_motion", "floor_spinner_720p5"),
    ("raf_720p5", "floor_raf_720p5"),
)
E2E_MIN_SECONDS = 180.0
COLOURS = [("#c02020", (192, 32, 32)), ("#20c020", (32, 192, 32)), ("#2020c0", (32, 32, 192))]


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes, in seconds."""
    return sum(process_cpu_seconds(pid) or 0.0 for pid in pids)


def pss_mb(pids: list[int]) -> float:
    """Proportional set size of these processes, in MB."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += sum(int(line.split()[1]) for line in text.splitlines() if line.startswith("Pss:"))
    return total / 1024


def chromium_kind(pid: int) -> str:
    """A Chromium process's kind from its command line: browser, renderer, gpu, network, ..."""
    try:
        # Chromium's children rewrite their command line as one line, split by spaces.
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return "gone"
    flags = dict(arg.decode(errors="replace").split("=", 1) for arg in args if b"=" in arg)
    kind = flags.get("--type", "browser")
    if kind == "utility":
        return flags.get("--utility-sub-type", "utility").split(".")[0]
    return kind.removesuffix("-process")


# A Chromium process's kind, CPU seconds and minor page faults so far.
type ChromiumCounters = dict[int, tuple[str, float, int]]


def chromium_counters(pids: list[int]) -> ChromiumCounters:
    """Each Chromium process's kind, CPU seconds and minor page faults so far."""
    found = {}
    for pid in pids:
        try:
            minor_faults = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])
        except OSError:  # gone
            continue
        found[pid] = (chromium_kind(pid), process_cpu_seconds(pid) or 0.0, minor_faults)
    return found


def chromium_rates(
    before: ChromiumCounters, after: ChromiumCounters, window: float
) -> dict[str, Any]:
    """CPU-s/s by kind of Chromium process, and its minor page faults a second.

    A fault is a page of memory touched for the first time: much of Chromium's
    cost per captured frame is copying the picture into memory it has just
    allocated (measured on this 2-core VM: 2.7 µs a page, its zeroing included).
    """
    cpu: dict[str, float] = {}
    faults = 0
    for pid, (kind, seconds, minor) in after.items():
        _, seconds_before, minor_before = before.get(pid, (kind, 0.0, 0))
        cpu[kind] = cpu.get(kind, 0.0) + (seconds - seconds_before) / window
        faults += minor - minor_before
    return {
        "chromium_cpu_by_kind": " ".join(
            f"{kind}:{rate:.3f}" for kind, rate in sorted(cpu.items(), key=lambda item: -item[1])
        ),
        "chromium_faults_per_s": round(faults / window),
    }


def pss_by_kind(pids: list[int]) -> dict[str, tuple[int, float]]:
    """Chromium's processes by kind: how many, and their PSS in MB."""
    kinds: dict[str, tuple[int, float]] = {}
    for pid in pids:
        count, mb = kinds.get(kind := chromium_kind(pid), (0, 0.0))
        kinds[kind] = (count + 1, mb + pss_mb([pid]))
    return kinds


def roles(hass_pid: int) -> dict[str, list[int]]:
    """Home Assistant's processes by role.

    Playwright's driver counts as Home Assistant, and is also shown on its own.
    """
    found: dict[str, list[int]] = {"chromium": [], "ffmpeg": [], "ha": [hass_pid], "driver": []}
    for pid, name in descendants(hass_pid).items():
        if name == "ffmpeg":
            found["ffmpeg"].append(pid)
        # Chromium's utility processes start as /proc/self/exe: their name is "exe".
        elif name.startswith("chrom") or name in ("headless_shell", "exe"):
            found["chromium"].append(pid)
        else:
            found["ha"].append(pid)
            if name.startswith("node"):  # "node-MainThread"
                found["driver"].append(pid)
    return found


def cpu_by_role(hass_pid: int) -> dict[str, float]:
    """CPU seconds so far of each role."""
    return {role: cpu_seconds(pids) for role, pids in roles(hass_pid).items()}


def make_video() -> Path:
    """A 4-second H.264 test video (640x360, 25 frames/s) in the temp folder."""
    path = Path(tempfile.gettempdir()) / "bench-video-h264.mp4"
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
             "-t", "4", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart",
             str(path)],
            check=True,
        )  # fmt: skip
    return path


class TestSite:
    """The static and spinner pages, on loopback; the static page follows self.colour."""

    def __init__(self) -> None:
        """Start with the page's own colour."""
        self.colour = "#204060"
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """Serve on a free port."""
        app = web.Application()
        pages = {
            "/static": STATIC_PAGE,
            "/spinner": SPINNER_PAGE,
            "/raf": RAF_PAGE,
            "/clock": CLOCK_PAGE,
            "/video": VIDEO_PAGE,
        }
        for path, page in pages.items():
            app.router.add_get(
                path, lambda _, page=page: web.Response(text=page, content_type="text/html")
            )
        app.router.add_get("/events", self._events)
        self._video = await asyncio.to_thread(make_video)
        app.router.add_get("/video.mp4", lambda _: web.FileResponse(self._video))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        self.url = f"http://127.0.0.1:{port}"

    def set_colour(self, colour: str) -> None:
        """Tell every open page its new background colour."""
        self.colour = colour
        self._changed.set()
        self._changed = asyncio.Event()

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            while True:
                await response.write(f"data: {self.colour}\n\n".encode())
                await self._changed.wait()
        except ConnectionError:  # the page went away
            pass
        return response

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()


async def change_latency(site: TestSite, master_url: str) -> float:
    """Median seconds from a colour change to the first listed segment showing it.

    The clock stops when the segment is seen listed; decoding it comes after.
    """
    samples = []
    for index in range(CHANGES):
        css, rgb = COLOURS[index % len(COLOURS)]
        seen = {(await newest_segment(master_url))[0]}
        site.set_colour(css)
        started = time.monotonic()
        async with asyncio.timeout(30):
            while True:
                name, media = await newest_segment(master_url)
                if name in seen:
                    await asyncio.sleep(0.02)
                    continue
                listed = time.monotonic() - started
                seen.add(name)
                if close_to(await colour_of(media), rgb, 40):
                    break
        samples.append(listed)
        # Vary the phase of the change against segment boundaries.
        await asyncio.sleep(1.0 + random.random())  # noqa: S311
    return statistics.median(samples)


def segment_bytes() -> dict[str, int]:
    """Sizes of the segments on disk now (one session runs at a time)."""
    sizes = {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))  # noqa: S108
    for path in [
        *tmp.glob("dashboard_cast_*/segment_*.m4s"),
        *tmp.glob("dashboard_cast-*/dashboard_cast_*/segment_*.m4s"),
    ]:
        try:
            sizes[path.name] = path.stat().st_size
        except OSError:
            continue
    return sizes


async def change_to_pixels(site: TestSite, screen: PlayingScreen) -> float:
    """Median seconds from a colour change on the page to the first frame the player shows of it."""
    samples = []
    for index in range(CHANGES):
        css, rgb = COLOURS[index % len(COLOURS)]
        changed_ms = time.time() * 1000
        site.set_colour(css)
        async with asyncio.timeout(30):
            while (shown_ms := await screen.first_frame_like(rgb, changed_ms, 40)) is None:  # noqa: ASYNC110 - polled in the player's page
                await asyncio.sleep(0.05)
        samples.append((shown_ms - changed_ms) / 1000)
        # Vary the phase of the change against segment boundaries.
        await asyncio.sleep(1.0 + random.random())  # noqa: S311
    return statistics.median(samples)


async def watch_receiver(screen: PlayingScreen, seconds: float) -> dict[str, Any]:
    """Playback on the TV over the window: stalls, and how far behind live it plays."""
    samples = await watch_playback(screen, seconds)
    last = samples[-1]
    if last.error is not None:
        raise RuntimeError(f"the player failed: {last.error}")
    return {
        "stalls": len(last.freezes),
        "player_seeks": len(last.seeks),
        "live_latency_s": None if last.live_latency is None else round(last.live_latency, 2),
    }


async def measure_window(
    ha: HomeAssistant, seconds: float, sample: Callable[[], None] = lambda: None
) -> tuple[dict[str, float], dict[str, float], float]:
    """CPU-seconds per second by role over a window (sample() every 0.5 s), PSS at its end.

    Home Assistant's rate is less its rate at rest. Returns (cpu, pss, window seconds).
    """
    before = cpu_by_role(ha.pid)
    window_start = time.monotonic()
    while time.monotonic() - window_start < seconds:
        sample()
        await asyncio.sleep(0.5)
    window = time.monotonic() - window_start
    after = cpu_by_role(ha.pid)
    pss = {role: pss_mb(pids) for role, pids in roles(ha.pid).items()}
    cpu = {role: max(0.0, after[role] - before.get(role, 0.0)) / window for role in after}
    cpu["ha"] = max(0.0, cpu["ha"] - ha_idle_rate)
    return cpu, pss, window


async def run_case(
    ha: HomeAssistant,
    entry_id: str,
    player: str,
    site: TestSite,
    tv: CastDevice,
    name: str,
    seconds: float,
) -> dict[str, Any]:
    """Start one case with the action, measure it, stop it."""
    spec = CASES[name]
    reduce_motion = spec.get("reduce_motion", True)
    # The test site is on loopback, which pages reach only when allow-listed.
    await set_options(
        ha,
        entry_id,
        reduce_motion=reduce_motion,
        silent_audio=spec.get("silent_audio", False),
        allowed_origins=[site.url],
    )
    await ha.wait_for_state(player, {"off"})
    dashboard = {
        "static": f"{site.url}/static",
        "spinner": f"{site.url}/spinner",
        "raf": f"{site.url}/raf",
        "clock": f"{site.url}/clock",
        "video": f"{site.url}/video",
        "dashboard": f"{develop.DEMO_DASHBOARD}/home",
    }[spec["page"]]
    master, first_playable = await start_and_wait_playable(
        ha, player, dashboard, spec["quality"], zoom=spec.get("zoom", 1.0)
    )
    await ha.wait_for_state(player, {"playing"})
    receiver: dict[str, Any] = {}
    if tv.screen is not None:
        state = await wait_until_playing(tv.screen)
        receiver["first_frame_s"] = state.first_frame_s
        watching = asyncio.create_task(watch_receiver(tv.screen, max(seconds, E2E_MIN_SECONDS)))
    await asyncio.sleep(SETTLE_SECONDS)

    seen: dict[str, int] = {}
    counters_before = chromium_counters(roles(ha.pid)["chromium"])
    cpu, pss, window = await measure_window(ha, seconds, lambda: seen.update(segment_bytes()))
    chromium = chromium_rates(counters_before, chromium_counters(roles(ha.pid)["chromium"]), window)
    latency = await change_latency(site, master) if spec["page"] == "static" else None
    if tv.screen is not None:
        receiver["change_to_pixels_s"] = round(await change_to_pixels(site, tv.screen), 2)
        receiver.update(await watching)
    await ha.post("/api/services/dashboard_cast/stop", {"entity_id": player})
    site.set_colour("#204060")
    return {
        "case": name,
        "chromium_cpu": round(cpu["chromium"], 3),
        "ffmpeg_cpu": round(cpu["ffmpeg"], 3),
        "ha_cpu": round(cpu["ha"], 3),
        "of_which_driver_cpu": round(cpu["driver"], 3),
        "total_cpu": round(cpu["chromium"] + cpu["ffmpeg"] + cpu["ha"], 3),
        "first_playable_s": round(first_playable, 2),
        "change_latency_s": None if latency is None else round(latency, 2),
        "chromium_pss_mb": round(pss["chromium"], 1),
        "ffmpeg_pss_mb": round(pss["ffmpeg"], 1),
        **chromium,
        "bitrate_kbps": round(sum(seen.values()) * 8 / 1000 / window, 1),
        **receiver,
    }


async def run_reference_case(site: TestSite, name: str, seconds: float) -> dict[str, Any]:
    """Run the seeds' reference pipeline on the case's page and measure it the same way."""
    url = f"{site.url}/{CASES[name]['page']}"
    async with bench_reference.reference_pipeline(url, 1280, 720) as main:
        await asyncio.sleep(SETTLE_SECONDS)
        before = {role: cpu_seconds(pids) for role, pids in pids_by_role(main).items()}
        window_start = time.monotonic()
        await asyncio.sleep(seconds)
        window = time.monotonic() - window_start
        processes = pids_by_role(main)
        cpu = {
            role: (cpu_seconds(pids) - before[role]) / window for role, pids in processes.items()
        }
        pss = {role: pss_mb(pids) for role, pids in processes.items()}
    return {
        "case": name,
        "xvfb_cpu": round(cpu["xvfb"], 3),
        "chromium_cpu": round(cpu["chromium"], 3),
        "ffmpeg_cpu": round(cpu["ffmpeg"], 3),
        "total_cpu": round(sum(cpu.values()), 3),
        "xvfb_pss_mb": round(pss["xvfb"], 1),
        "chromium_pss_mb": round(pss["chromium"], 1),
        "ffmpeg_pss_mb": round(pss["ffmpeg"], 1),
    }


def compared_with_reference(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours against the reference on each page both ran: CPU and memory, and their ratios."""
    by_name = {row["case"]: row for row in cases}
    rows = []
    for ours_name, reference_name in COMPARED:
        if (ours := by_name.get(ours_name)) is None or (
            reference := by_name.get(reference_name)
        ) is None:
            continue
        ours_pss = ours["chromium_pss_mb"] + ours["ffmpeg_pss_mb"]
        reference_pss = sum(value for key, value in reference.items() if key.endswith("_pss_mb"))
        rows.append({
            "page": CASES[ours_name]["page"],
            "ours": ours_name,
            "ours_total_cpu": ours["total_cpu"],
            "reference_total_cpu": reference["total_cpu"],
            "cpu_ours_per_reference": round(ours["total_cpu"] / reference["total_cpu"], 3),
            "ours_pss_mb": round(ours_pss, 1),
            "reference_pss_mb": round(reference_pss, 1),
            "pss_ours_per_reference": round(ours_pss / reference_pss, 3),
        })  # fmt: skip
    return rows


async def run_floor_case(
    ha: HomeAssistant, site: TestSite, name: str, seconds: float
) -> dict[str, Any]:
    """Run Chromium alone on the case's page (bench_floor.py) and measure it the same way."""
    url = f"{site.url}/{CASES[name]['page']}"
    async with bench_floor.floor_pipeline(url, 1280, 720, FLOOR_FPS) as pool:
        await asyncio.sleep(SETTLE_SECONDS)
        before = cpu_seconds(pool.processes())
        window_start = time.monotonic()
        await asyncio.sleep(seconds)
        window = time.monotonic() - window_start
        processes = pool.processes()
        cpu = (cpu_seconds(processes) - before) / window
        pss = pss_mb(processes)
    return {"case": name, "chromium_cpu": round(cpu, 3), "chromium_pss_mb": round(pss, 1)}


def compared_with_floor(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ours against Chromium alone on each page both ran: Chromium's part and the whole."""
    by_name = {row["case"]: row for row in cases}
    rows = []
    for ours_name, floor_name in ABOVE_FLOOR:
        if (ours := by_name.get(ours_name)) is None or (floor := by_name.get(floor_name)) is None:
            continue
        rows.append({
            "page": CASES[ours_name]["page"],
            "ours": ours_name,
            "ours_chromium_cpu": ours["chromium_cpu"],
            "ours_total_cpu": ours["total_cpu"],
            "floor_chromium_cpu": floor["chromium_cpu"],
            "chromium_per_floor": round(ours["chromium_cpu"] / floor["chromium_cpu"], 3),
            "total_per_floor": round(ours["total_cpu"] / floor["chromium_cpu"], 3),
        })  # fmt: skip
    return rows


async def start_and_wait_playable(
    ha: HomeAssistant, player: str, dashboard: str, quality: str, *, zoom: float = 1.0
) -> tuple[str, float]:
    """Start a player's session; its stream URL and seconds until it was playable."""
    started = time.monotonic()
    answer = await ha.post(
        "/api/services/dashboard_cast/start?return_response",
        {"entity_id": player, "dashboard": dashboard, "quality": quality, "zoom": zoom},
    )
    master: str = answer["service_response"][player]["stream_url"]
    async with asyncio.timeout(60):
        while await listed_segments(ha.http, master) < 2:  # noqa: ASYNC110 - polled over HTTP
            await asyncio.sleep(0.05)
    return master, time.monotonic() - started


async def run_parallel_case(
    ha: HomeAssistant, screens: list[tuple[str, str]], site: TestSite, name: str, seconds: float
) -> dict[str, Any]:
    """Start the static page on every screen (entry id, player); measure all at once."""
    spec = CASES[name]
    for entry_id, player in screens:
        await set_options(ha, entry_id, silent_audio=False, allowed_origins=[site.url])
        await ha.wait_for_state(player, {"off"})
    first_player = screens[0][1]
    _, first_playable = await start_and_wait_playable(
        ha, first_player, f"{site.url}/static", spec["quality"]
    )
    await ha.wait_for_state(first_player, {"playing"})
    await asyncio.sleep(SETTLE_SECONDS)
    one_stream = pss_mb(roles(ha.pid)["chromium"])
    kinds_one = pss_by_kind(roles(ha.pid)["chromium"])
    for _, player in screens[1:]:
        await start_and_wait_playable(ha, player, f"{site.url}/static", spec["quality"])
    for _, player in screens:
        await ha.wait_for_state(player, {"playing"})
    await asyncio.sleep(SETTLE_SECONDS)
    cpu, pss, _ = await measure_window(ha, seconds)
    kinds_all = pss_by_kind(roles(ha.pid)["chromium"])
    for _, player in screens:
        await ha.post("/api/services/dashboard_cast/stop", {"entity_id": player})
    return {
        "case": name,
        "streams": len(screens),
        "chromium_cpu": round(cpu["chromium"], 3),
        "ffmpeg_cpu": round(cpu["ffmpeg"], 3),
        "ha_cpu": round(cpu["ha"], 3),
        "total_cpu": round(cpu["chromium"] + cpu["ffmpeg"] + cpu["ha"], 3),
        "total_cpu_per_stream": round(
            (cpu["chromium"] + cpu["ffmpeg"] + cpu["ha"]) / len(screens), 3
        ),
        "first_playable_s": round(first_playable, 2),
        "chromium_pss_mb": round(pss["chromium"], 1),
        "chromium_pss_one_stream_mb": round(one_stream, 1),
        "chromium_pss_per_further_stream_mb": round(
            (pss["chromium"] - one_stream) / (len(screens) - 1), 1
        ),
        "ffmpeg_pss_mb": round(pss["ffmpeg"], 1),
        # What each further stream adds, by kind of Chromium process: "+processes/+MB".
        "per_further_stream_by_kind": " ".join(
            f"{kind}:+{(count - kinds_one.get(kind, (0, 0.0))[0]) / (len(screens) - 1):.1f}"
            f"/+{(mb - kinds_one.get(kind, (0, 0.0))[1]) / (len(screens) - 1):.1f}MB"
            for kind, (count, mb) in sorted(kinds_all.items())
        ),
    }


async def set_options(ha: HomeAssistant, entry_id: str, **changes: Any) -> None:
    """Change options through the options flow, as a user would (the entry reloads)."""
    flow = await ha.post("/api/config/config_entries/options/flow", {"handler": entry_id})
    current = {
        key["name"]: key.get("description", {}).get("suggested_value")
        for key in flow["data_schema"]
    }
    user_input = {key: value for key, value in current.items() if value is not None}
    await ha.post(
        f"/api/config/config_entries/options/flow/{flow['flow_id']}", {**user_input, **changes}
    )


async def response_times(
    ha: HomeAssistant, player: str, webhook_url: str, site: TestSite
) -> list[dict[str, Any]]:
    """Round-trip times of start calls while each start replaces a running or starting one."""
    action_ms, webhook_ms = [], []
    for index in range(RESPONSE_SAMPLES):
        body = {"dashboard": f"{site.url}/static?{index}"}
        started = time.perf_counter()
        await ha.post("/api/services/dashboard_cast/start", {"entity_id": player, **body})
        action_ms.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.4)
        # The webhook takes six starts a minute: sample it within that.
        if index < WEBHOOK_SAMPLES:
            started = time.perf_counter()
            async with ha.http.post(webhook_url, json={"action": "start", **body}) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"webhook start: {resp.status} {await resp.text()}")
            webhook_ms.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.4)
    await ha.post("/api/services/dashboard_cast/stop", {"entity_id": player})
    return [
        {
            "call": name,
            "samples": len(samples),
            "p50_ms": round(statistics.median(samples), 1),
            # inclusive: with few samples the default method extrapolates past the maximum
            "p95_ms": round(statistics.quantiles(samples, n=20, method="inclusive")[18], 1),
            "max_ms": round(max(samples), 1),
        }
        for name, samples in (("start action", action_ms), ("start webhook", webhook_ms))
    ]


ha_idle_rate = 0.0


@contextlib.asynccontextmanager
async def running_home_assistant(name: str, port: int) -> AsyncIterator[HomeAssistant]:
    """`hass` in a fresh config folder .cache/<name>, onboarded, with the demo dashboard.

    The demo configuration of scripts/develop, quiet: logging costs CPU too.
    """
    config_dir = REPO / ".cache" / name
    shutil.rmtree(config_dir, ignore_errors=True)
    config_dir.mkdir(parents=True)
    develop.prepare_config_dir(config_dir, port, log_level="warning", our_log_level="warning")
    base = f"http://127.0.0.1:{port}"
    # What it prints (a fatal error of Python's, say) goes to a file beside its log.
    with (config_dir / "hass.out").open("wb") as out:
        hass = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "homeassistant", "-c", str(config_dir),
            preexec_fn=develop.die_with_parent, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        async with aiohttp.ClientSession() as http:
            await develop.onboard(http, base, await develop.wait_until_up(http, base, hass))
            token = await develop.login(http, base)
            await develop.ensure_demo_dashboard(http, base, token)
            yield HomeAssistant(http, base, token, hass.pid)
    finally:
        if hass.returncode is None:
            hass.terminate()
            await hass.wait()


async def bench(port: int, seconds: float, names: list[str]) -> dict[str, Any]:
    """Run Home Assistant, the emulated TV and the test site; measure every case."""
    global ha_idle_rate  # noqa: PLW0603
    streams = max(CASES[name].get("streams", 1) for name in names)
    tv = CastDevice(CAST_HOST, "Bench TV")
    further = [
        CastDevice(FURTHER_CAST_HOSTS.format(FURTHER_CAST_FIRST + index), f"Bench TV {index + 2}")
        for index in range(streams - 1)
    ]
    for device in (tv, *further):
        await device.start()
    site = TestSite()
    await site.start()
    try:
        async with (
            running_home_assistant("bench", port) as ha,
            shaka_receiver() as receiver,
        ):
            await ha.flow("cast", {"known_hosts": [device.host for device in (tv, *further)]})
            screens = []
            for device in (tv, *further):
                cast = "media_player." + device.name.lower().replace(" ", "_")
                await ha.wait_for_state(cast, {"off", "idle"})
                entry = await ha.flow("dashboard_cast", {"entity_id": cast})
                screens.append((entry["result"]["entry_id"], f"{cast}_dashboard"))
            entry_id, player = screens[0]
            for _, each in screens:
                await ha.wait_for_state(each, {"off"})
            print("  measuring Home Assistant at rest", file=sys.stderr)
            before = cpu_by_role(ha.pid)["ha"]
            await asyncio.sleep(IDLE_SECONDS)
            ha_idle_rate = (cpu_by_role(ha.pid)["ha"] - before) / IDLE_SECONDS
            results = []
            for name in names:
                print(f"  {name}", file=sys.stderr)
                if CASES[name].get("reference"):
                    if (missing := bench_reference.available()) is not None:
                        print(f"    skipped: {missing}", file=sys.stderr)
                    else:
                        results.append(await run_reference_case(site, name, seconds))
                    continue
                if CASES[name].get("floor"):
                    results.append(await run_floor_case(ha, site, name, seconds))
                    continue
                if (count := CASES[name].get("streams", 1)) > 1:
                    results.append(
                        await run_parallel_case(ha, screens[:count], site, name, seconds)
                    )
                    continue
                tv.receiver = receiver if CASES[name].get("receiver") else None
                results.append(await run_case(ha, entry_id, player, site, tv, name, seconds))
            print("  response times", file=sys.stderr)
            tv.receiver = None  # starts that replace each other, not playback
            await set_options(ha, entry_id, allowed_origins=[site.url])
            await ha.wait_for_state(player, {"off"})
            webhook_id = await webhook_of(ha, entry_id)
            responses = await response_times(
                ha, player, f"{ha.base}/api/webhook/{webhook_id}", site
            )
    finally:
        await site.stop()
        for device in (tv, *further):
            await device.stop()
    return {"ha_idle_cpu": round(ha_idle_rate, 3), "cases": results, "responses": responses}


async def webhook_of(ha: HomeAssistant, entry_id: str) -> str:
    """The entry's webhook id, from the URL its options form shows."""
    flow = await ha.post("/api/config/config_entries/options/flow", {"handler": entry_id})
    url: str = flow["description_placeholders"]["webhook_url"]
    async with ha.http.delete(
        f"{ha.base}/api/config/config_entries/options/flow/{flow['flow_id']}", headers=ha.headers
    ):
        pass
    return url.rsplit("/", 1)[1]


def print_table(rows: list[dict[str, Any]]) -> None:
    """Print rows as a Markdown table."""
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join("" if row[key] is None else str(row[key]) for key in keys) + " |")


def main() -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="steady-state window per case")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--port", type=int, default=8124)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    names = args.cases.split(",")
    if unknown := set(names) - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    result = asyncio.run(bench(args.port, args.seconds, names))
    print(f"Home Assistant at rest: {result['ha_idle_cpu']} CPU-s/s (subtracted from ha_cpu)\n")
    cases = result["cases"]
    ours = [
        row
        for row in cases
        if not (CASES[row["case"]].get("reference") or CASES[row["case"]].get("floor"))
    ]
    tables = [
        [row for row in ours if "streams" not in row and "first_frame_s" not in row],
        [row for row in ours if "streams" in row],
        [row for row in ours if "first_frame_s" in row],
        [row for row in cases if CASES[row["case"]].get("reference")],
        compared_with_reference(cases),
        [row for row in cases if CASES[row["case"]].get("floor")],
        compared_with_floor(cases),
    ]
    for table in tables:
        if table:
            print_table(table)
            print()
    print_table(result["responses"])
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
