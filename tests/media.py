"""Decode and probe what the pipeline serves, and find processes it left behind."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import re
import shutil
import tempfile
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from custom_components.dashboard_cast.dashboard_cast_pipeline.priority import descendants

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
PIPELINE_PROCESSES = {"chromium", "chrome", "headless_shell", "ffmpeg"}
CHROMIUM_NAMES = ("chrom", "headless_shell")


async def run(*args: str, stdin: bytes | None = None) -> bytes:
    """Run a command (stdin on its input) and return its stdout; fail with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    if proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {err.decode(errors='replace')[-2000:]}")
    return out


async def fetch(url: str) -> bytes:
    """GET a URL; fail unless it answers 200."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200, f"{url}: {resp.status}"
        return await resp.read()


async def newest_segment(master_url: str) -> tuple[str, bytes]:
    """The newest segment the live playlist lists: its name, and init + segment to decode."""
    base = master_url.rsplit("/", 1)[0]
    master = (await fetch(master_url)).decode()
    media_name = next(line for line in master.splitlines() if line and not line.startswith("#"))
    playlist = (await fetch(f"{base}/{media_name}")).decode()
    segment = [line for line in playlist.splitlines() if line and not line.startswith("#")][-1]
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
    assert init is not None
    return segment, await fetch(f"{base}/{init.group(1)}") + await fetch(f"{base}/{segment}")


async def last_picture(media: bytes, width: int, height: int, demuxer: str = "mp4") -> bytes:
    """The last picture of an fMP4 segment (with its init segment), scaled, as RGB bytes.

    demuxer "jpeg_pipe" reads a JPEG instead.
    """
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-v", "error", "-f", demuxer, "-i", "pipe:0",
        "-vf", f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    raw, err = await asyncio.wait_for(proc.communicate(media), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    frame = raw[-width * height * 3 :]
    assert len(frame) == width * height * 3
    return frame


async def colour_of(media: bytes, demuxer: str = "mp4") -> tuple[int, int, int]:
    """Mean RGB colour of the last picture of an fMP4 segment (or a JPEG: demuxer jpeg_pipe)."""
    frame = await last_picture(media, 16, 9, demuxer)
    pixels = 16 * 9
    return (
        sum(frame[0::3]) // pixels,
        sum(frame[1::3]) // pixels,
        sum(frame[2::3]) // pixels,
    )


async def first_content_row(jpeg: bytes, tolerance: int = 12) -> int | None:
    """The first row from the top that is not all the colour of the top-left pixel, or None.

    Where a page's content starts: a band kept for a hidden header shows as
    rows of plain background above it.
    """
    width, height = 1280, 720
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-v", "error", "-f", "jpeg_pipe", "-i", "pipe:0",
        "-vf", f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "gray", "-",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    raw, err = await asyncio.wait_for(proc.communicate(jpeg), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    assert len(raw) == width * height
    background = raw[0]
    for row in range(height):
        line = raw[row * width : (row + 1) * width]
        if max(line) - background > tolerance or background - min(line) > tolerance:
            return row
    return None


async def latest_colour(master_url: str) -> tuple[int, int, int]:
    """What a live HLS stream shows now: the last picture of its newest listed segment.

    Read the way a player does (master, media playlist, init, segment) rather
    than through FFmpeg's HLS demuxer, which waits for playlist reloads.
    """
    _, media = await newest_segment(master_url)
    return await colour_of(media)


async def codecs(url: str) -> list[str]:
    """The codec of each stream ffprobe finds behind a URL, in order."""
    out = await run(FFPROBE, "-v", "error", "-show_streams", "-of", "json", url)
    return [stream["codec_name"] for stream in json.loads(out)["streams"]]


async def probe(url: str) -> dict[str, Any]:
    """Ffprobe's view of the first video stream and its frames' rate."""
    out = await run(
        FFPROBE, "-v", "error", "-select_streams", "v:0", "-show_streams",
        "-of", "json", url,
    )  # fmt: skip
    streams: list[dict[str, Any]] = json.loads(out)["streams"]
    return streams[0]


def close_to(colour: tuple[int, int, int], expected: tuple[int, int, int], tol: int = 24) -> bool:
    """Tell whether two colours match within the loss of JPEG and H.264."""
    return all(abs(a - b) <= tol for a, b in zip(colour, expected, strict=True))


# How long a server's cleanup waits for the handlers it cancelled.
HANDLERS_END_SECONDS = 10


class LoopbackRunner(web.AppRunner):
    """An AppRunner whose cleanup returns once every connection's handler has ended.

    At shutdown aiohttp cancels a handler still running (a live stream, an
    event stream) without waiting for it; Home Assistant's test harness then
    finds its task still pending and fails the test.
    """

    def __init__(self, app: web.Application, **options: Any) -> None:
        """Track each request's connection task, through a middleware of app's."""
        super().__init__(app, **options)
        self._connections: set[asyncio.Task[None]] = set()
        app.middlewares.append(self._track)

    @web.middleware
    async def _track(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._connections.add(request.task)
        request.task.add_done_callback(self._connections.discard)
        return await handler(request)

    async def cleanup(self) -> None:
        """Stop serving, and wait for the cancelled handlers to end."""
        await super().cleanup()
        if self._connections:
            async with asyncio.timeout(HANDLERS_END_SECONDS):
                await asyncio.wait(self._connections)


async def serve(
    app: web.Application, host: str = "127.0.0.1", **runner_options: Any
) -> tuple[web.AppRunner, int]:
    """Serve app on a free port of host (loopback); its runner (to clean up) and port."""
    runner = LoopbackRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port: int = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def session_folders() -> list[Path]:
    """Session folders in the temp folder, Home Assistant's and a renderer service's.

    Home Assistant's are inside its instance's own folder; the renderer's work
    folder is at the top.
    """
    tmp = Path(tempfile.gettempdir())
    return [*tmp.glob("dashboard_cast_*"), *tmp.glob("dashboard_cast-*/dashboard_cast_*")]


def pipeline_processes() -> dict[int, str]:
    """Chromium and FFmpeg processes started (directly or not) by this test run."""
    return {
        pid: name
        for pid, name in descendants(os.getpid()).items()
        if name in PIPELINE_PROCESSES or name.startswith("chrom")
    }


def thread_nice_values(pid: int) -> list[int]:
    """The nice value of each thread of a process ([] once it is gone).

    /proc/<pid>/stat tells the first thread's only: on Linux each thread has its own.
    """
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    values = []
    for tid in tasks:
        try:
            stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        values.append(int(stat.rsplit(")", 1)[1].split()[16]))
    return values


def browser_pids(root: int) -> list[int]:
    """Chromium browser processes under root: not their helpers, nor passing forks.

    Helpers carry --type= on their command line. Debian's /usr/bin/chromium is
    a shell script whose subshells are named chromium too, and a forked child
    carries its parent's command line until it execs. So a browser is a
    Chromium process without --type= whose parent is not Chromium.
    """
    processes = descendants(root)
    found = []
    for pid, name in processes.items():
        if not name.startswith(CHROMIUM_NAMES):
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # exited meanwhile
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if b"--type=" not in cmdline and not processes.get(parent, "").startswith(CHROMIUM_NAMES):
            found.append(pid)
    return found


def browser_processes() -> int:
    """How many Chromium browsers this test run started."""
    return len(browser_pids(os.getpid()))
