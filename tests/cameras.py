"""Live cameras on loopback, as a home's cameras serve them, from one looping H.264 clip.

The clip shows red for a second, then blue: a picture that moves is one whose
colour keeps changing. FFmpeg serves it in real time, once per client (a
camera serves every client that connects, and Home Assistant reconnects):

- ``/live.ts``: H.264 in MPEG-TS, what Home Assistant's stream integration
  reads from a generic camera's stream source;
- ``/mjpeg``: multipart JPEG (what an MJPEG camera serves);
- ``/still.jpg``: one picture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from dataclasses import dataclass
from pathlib import Path
import tempfile

from aiohttp import web

from .media import run, serve

CLIP_SECONDS = 2  # one red, one blue
# Multipart boundary FFmpeg's mpjpeg muxer writes.
MJPEG_BOUNDARY = "ffmpeg"


async def make_clip() -> Path:
    """The clip (640x360, 10 frames/s, a keyframe each second) in the temp folder."""
    path = Path(tempfile.gettempdir()) / "dashboard-cast-camera-clip.mp4"
    if not path.exists():
        await run(
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "color=c=red:s=640x360:r=10:d=1",
            "-f", "lavfi", "-i", "color=c=blue:s=640x360:r=10:d=1",
            "-filter_complex", "[0][1]concat=n=2:v=1",
            "-c:v", "libx264", "-profile:v", "main", "-pix_fmt", "yuv420p", "-g", "10",
            str(path),
        )  # fmt: skip
    return path


@dataclass(frozen=True, slots=True)
class CameraSource:
    """Where the emulated camera serves its streams."""

    base: str

    @property
    def live_ts(self) -> str:
        return f"{self.base}/live.ts"

    @property
    def mjpeg(self) -> str:
        return f"{self.base}/mjpeg"

    @property
    def still(self) -> str:
        return f"{self.base}/still.jpg"


async def _stream(
    request: web.Request, clip: Path, content_type: str, *output: str
) -> web.StreamResponse:
    """Run FFmpeg on the looping clip in real time for this client, until it goes."""
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", str(clip), *output, "pipe:1",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        while chunk := await process.stdout.read(65536):
            await response.write(chunk)
    except ConnectionResetError:
        pass  # the client went
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    return response


@contextlib.asynccontextmanager
async def camera_source() -> AsyncIterator[CameraSource]:
    """Serve the clip's streams on 127.0.0.1 until the block ends."""
    clip = await make_clip()
    still = await run(
        "ffmpeg", "-v", "error", "-i", str(clip), "-frames:v", "1", "-f", "mjpeg", "pipe:1"
    )  # fmt: skip

    async def live_ts(request: web.Request) -> web.StreamResponse:
        return await _stream(request, clip, "video/mp2t", "-c", "copy", "-f", "mpegts")

    async def mjpeg(request: web.Request) -> web.StreamResponse:
        return await _stream(
            request,
            clip,
            f"multipart/x-mixed-replace;boundary={MJPEG_BOUNDARY}",
            "-f", "mpjpeg", "-q:v", "4",
        )  # fmt: skip

    app = web.Application()
    app.router.add_get("/live.ts", live_ts)
    app.router.add_get("/mjpeg", mjpeg)
    app.router.add_get("/still.jpg", lambda _: web.Response(body=still, content_type="image/jpeg"))
    # A camera that goes away drops its clients at once; a graceful shutdown would
    # wait for the live streams, which end only when their readers go.
    runner, port = await serve(app, shutdown_timeout=0.1)
    try:
        yield CameraSource(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()
