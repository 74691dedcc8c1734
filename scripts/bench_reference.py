"""The seeds' reference pipeline, which scripts/bench measures ours against.

How such projects put a page on a TV: a virtual X display (Xvfb), the full
Chromium in it as a kiosk window, and FFmpeg grabbing the screen (x11grab) at
30 frames/s into libx264 `fast` at 2.5 Mbit/s with silent AAC, cut into 2 s
MPEG-TS HLS segments. It runs here, beside Home Assistant, on the same page
and at the same size as the case it is compared with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import os
from pathlib import Path
import shutil
import tempfile

from tests.media import descendants

FPS = 30
KBPS = 2500
SEGMENT_SECONDS = 2
# Quiet on a closed network (the guide's flags), a kiosk window filling the screen.
CHROMIUM_ARGS = (
    "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-sandbox", "--kiosk", "--noerrdialogs",
    "--disable-infobars", "--autoplay-policy=no-user-gesture-required", "--window-position=0,0",
)  # fmt: skip
LOAD_SECONDS = 3.0


def available() -> str | None:
    """Why the reference cannot run here, or None."""
    missing = [name for name in ("Xvfb", "chromium", "ffmpeg") if shutil.which(name) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


def ffmpeg_args(display: str, width: int, height: int, out_dir: Path) -> list[str]:
    """The reference encoder: the screen at 30 frames/s, x264 fast, silent AAC, 2 s TS HLS."""
    return [
        "-hide_banner", "-loglevel", "error", "-nostdin",
        "-f", "x11grab", "-framerate", str(FPS), "-video_size", f"{width}x{height}",
        "-draw_mouse", "0", "-i", f"{display}.0",
        "-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=44100",
        "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", "fast", "-pix_fmt", "yuv420p",
        "-b:v", f"{KBPS}k", "-maxrate", f"{KBPS}k", "-bufsize", f"{2 * KBPS}k",
        "-g", str(FPS * SEGMENT_SECONDS), "-keyint_min", str(FPS * SEGMENT_SECONDS),
        "-c:a", "aac", "-b:a", "128k",
        "-f", "hls", "-hls_time", str(SEGMENT_SECONDS), "-hls_list_size", "5",
        "-hls_flags", "delete_segments", str(out_dir / "index.m3u8"),
    ]  # fmt: skip


@contextlib.asynccontextmanager
async def reference_pipeline(url: str, width: int, height: int) -> AsyncIterator[dict[str, int]]:
    """Run the reference on url; yield its main processes' pids by role (xvfb, chromium, ffmpeg).

    Chromium's own processes are the chromium pid's descendants.
    """
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory(prefix="bench-reference-") as folder:
        try:
            # -displayfd: Xvfb picks a free display and tells its number once it is up.
            xvfb = await asyncio.create_subprocess_exec(
                "Xvfb", "-displayfd", "1", "-screen", "0", f"{width}x{height}x24",
                "-nolisten", "tcp",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(xvfb)
            assert xvfb.stdout is not None
            async with asyncio.timeout(10):
                display = ":" + (await xvfb.stdout.readline()).decode().strip()
            if display == ":":
                raise RuntimeError(f"Xvfb did not start (exit code {await xvfb.wait()})")
            chromium = await asyncio.create_subprocess_exec(
                "chromium", *CHROMIUM_ARGS, f"--window-size={width},{height}",
                f"--user-data-dir={folder}/profile", url,
                # Its singleton socket's folder goes in ours: a terminated
                # Chromium leaves it behind.
                env={**os.environ, "DISPLAY": display, "TMPDIR": folder},
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(chromium)
            await asyncio.sleep(LOAD_SECONDS)
            out_dir = Path(folder) / "hls"
            out_dir.mkdir()
            ffmpeg = await asyncio.create_subprocess_exec(
                "ffmpeg", *ffmpeg_args(display, width, height, out_dir),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            processes.append(ffmpeg)
            yield {"xvfb": xvfb.pid, "chromium": chromium.pid, "ffmpeg": ffmpeg.pid}
        finally:
            for process in reversed(processes):
                if process.returncode is None:
                    process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), 5)
                    except TimeoutError:
                        process.kill()
                        await process.wait()


def pids_by_role(main: dict[str, int]) -> dict[str, list[int]]:
    """Every process of the reference by role: Chromium's are its main process's tree."""
    return {
        role: [pid, *(descendants(pid) if role == "chromium" else ())] for role, pid in main.items()
    }
