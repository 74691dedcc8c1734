"""Decode and probe what the pipeline serves, and find processes it left behind."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import shutil
from typing import Any

FFMPEG = shutil.which("ffmpeg") or "ffmpeg"
FFPROBE = shutil.which("ffprobe") or "ffprobe"
PIPELINE_PROCESSES = {"chromium", "chrome", "headless_shell", "ffmpeg"}


async def run(*args: str) -> bytes:
    """Run a command and return its stdout; fail with its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    if proc.returncode != 0:
        raise AssertionError(f"{args[0]} failed: {err.decode(errors='replace')[-2000:]}")
    return out


async def latest_colour(master_url: str) -> tuple[int, int, int]:
    """Decode the newest segment of a live HLS stream; return its mean RGB colour."""
    raw = await run(
        FFMPEG, "-v", "error", "-live_start_index", "-1", "-i", master_url,
        "-frames:v", "1", "-vf", "scale=16:9", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
    )  # fmt: skip
    pixels = len(raw) // 3
    assert pixels == 16 * 9
    return (
        sum(raw[0::3]) // pixels,
        sum(raw[1::3]) // pixels,
        sum(raw[2::3]) // pixels,
    )


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


def descendants(pid: int) -> dict[int, str]:
    """Every living descendant process of pid, with its command name."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] == "Z":
            continue
        names[int(entry.name)] = comm
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, str] = {}
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found[child] = names[child]
            stack.append(child)
    return found


def pipeline_processes() -> dict[int, str]:
    """Chromium and FFmpeg processes started (directly or not) by this test run."""
    return {
        pid: name
        for pid, name in descendants(os.getpid()).items()
        if name in PIPELINE_PROCESSES or name.startswith("chrom")
    }


def browser_processes() -> int:
    """How many Chromium browsers (not their renderers and helpers) this test run started."""
    count = 0
    for pid, name in pipeline_processes().items():
        if name not in ("chromium", "chrome", "headless_shell"):
            continue
        try:
            # Chromium rewrites its command line: arguments may be joined by spaces.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=" not in cmdline:
            count += 1
    return count
