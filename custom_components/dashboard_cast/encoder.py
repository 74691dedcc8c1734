"""FFmpeg: JPEG frames in at a constant rate, live fMP4 HLS out."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
import contextlib
import logging
from pathlib import Path

from .const import H264_CODECS
from .priority import lower_priority
from .watchdog import PipelineStats, cpu_seconds

_LOGGER = logging.getLogger(__name__)

MEDIA_PLAYLIST = "media.m3u8"
INIT_SEGMENT = "init.mp4"
SEGMENT_PATTERN = "segment_%05d.m4s"
PLAYLIST_SEGMENTS = 4
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 30
# Segments the first picture fills at start: a player needs two to begin.
PREROLL_SEGMENTS = 2


def ffmpeg_args(
    out_dir: Path,
    width: int,
    height: int,
    fps: int,
    segment_seconds: float,
    max_kbps: int,
    *,
    generation: int = 0,
) -> list[str]:
    """Return FFmpeg's arguments after the binary.

    A later generation continues the playlist an earlier FFmpeg of the session
    left: the segment numbers go on, and a discontinuity tells the player that
    the timestamps start over, so it keeps playing from the same URL. Its init
    segment gets a new name: rewriting the old one in place would hand a
    player that fetches it meanwhile half a file.
    """
    gop = max(1, round(fps * segment_seconds))
    flags = "delete_segments+independent_segments+temp_file+omit_endlist"
    if generation:
        flags += "+append_list+discont_start"
    return [
        "-hide_banner",
        "-loglevel", "warning",
        "-nostdin",
        # Start at once: do not wait to probe a stream we describe exactly.
        "-probesize", "32", "-analyzeduration", "0", "-fpsprobesize", "0",
        # One decoder thread: frame threads would hold back frames, adding latency.
        "-threads", "1",
        "-f", "image2pipe", "-c:v", "mjpeg", "-framerate", str(fps), "-i", "pipe:0",
        "-an",
        "-vf", f"scale={width}:{height}:out_range=tv,format=yuv420p",
        "-c:v", "libx264",
        # veryfast, not ultrafast: ultrafast silently drops to Constrained Baseline.
        "-preset", "veryfast", "-tune", "zerolatency",
        "-profile:v", "high", "-level:v", "4.1", "-pix_fmt", "yuv420p",
        "-crf", "23", "-maxrate", f"{max_kbps}k", "-bufsize", f"{2 * max_kbps}k",
        # A keyframe at every segment start, and nowhere else.
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds})",
        "-f", "hls",
        "-hls_time", str(segment_seconds),
        "-hls_list_size", str(PLAYLIST_SEGMENTS),
        "-hls_delete_threshold", "3",
        "-hls_flags", flags,
        "-hls_segment_type", "fmp4",
        "-hls_fmp4_init_filename", init_segment(generation),
        "-hls_segment_filename", str(out_dir / SEGMENT_PATTERN),
        str(out_dir / MEDIA_PLAYLIST),
    ]  # fmt: skip


def init_segment(generation: int) -> str:
    """The init segment's file name of an encoder generation."""
    return INIT_SEGMENT if generation == 0 else f"init_{generation}.mp4"


def master_playlist(width: int, height: int, fps: int, max_kbps: int) -> str:
    """Return the master playlist.

    Chromecasts play a video-only HLS stream only when the master playlist
    names its codecs, resolution and bandwidth.
    """
    return (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH={max_kbps * 1000},RESOLUTION={width}x{height},"
        f'CODECS="{H264_CODECS}",FRAME-RATE={fps:.3f}\n'
        f"{MEDIA_PLAYLIST}\n"
    )


def listed_segments(out_dir: Path) -> int:
    """Count the segments the media playlist lists now."""
    try:
        text = (out_dir / MEDIA_PLAYLIST).read_text()
    except OSError:
        return 0
    return sum(1 for line in text.splitlines() if line.startswith("#EXTINF"))


class HlsEncoder:
    """An FFmpeg process fed with the latest frame at a constant rate.

    FFmpeg does not fill gaps in real time: fed only when the page changes, it
    would emit nothing while the page is still. The feeder repeats the latest
    frame every 1/fps seconds, and the encoder turns repeats into tiny P-frames.
    """

    def __init__(
        self,
        binary: str,
        out_dir: Path,
        width: int,
        height: int,
        fps: int,
        segment_seconds: float,
        max_kbps: int,
        latest_frame: Callable[[], bytes | None],
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = _LOGGER,
        *,
        stats: PipelineStats | None = None,
        generation: int = 0,
        resume_after: float = 0.0,
    ) -> None:
        """Initialize; call start(). Log lines go to log (the session's, with its prefix).

        generation counts the session's encoders: a later one continues the
        stream of the one before, whose output stopped resume_after seconds
        ago; the first picture fills that gap (up to the usual pre-roll), so
        the stream's timeline keeps pace with the clock.
        """
        self._binary = binary
        self._args = ffmpeg_args(
            out_dir, width, height, fps, segment_seconds, max_kbps, generation=generation
        )
        self._interval = 1.0 / fps
        preroll_seconds = segment_seconds * PREROLL_SEGMENTS
        if generation:
            preroll_seconds = min(preroll_seconds, resume_after)
        self._preroll_frames = max(1, round(fps * preroll_seconds))
        self._latest_frame = latest_frame
        self._log = log
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_fed: bytes | None = None
        self.log_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.stats = stats if stats is not None else PipelineStats()
        self.frames_out = 0

    @property
    def returncode(self) -> int | None:
        """FFmpeg's exit code once it exited."""
        return self._process.returncode if self._process is not None else None

    @property
    def pid(self) -> int | None:
        """FFmpeg's process id while it runs."""
        return self._process.pid if self._process is not None else None

    def cpu_seconds(self) -> float:
        """CPU time FFmpeg has used so far (0 once it is gone)."""
        pid = self.pid
        return (cpu_seconds(pid) or 0.0) if pid is not None else 0.0

    async def start(self) -> None:
        """Start FFmpeg and the feeder."""
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        lower_priority(self._process.pid)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._feed(), name="dashboard_cast feeder"),
            loop.create_task(self._read_log(), name="dashboard_cast ffmpeg log"),
        ]

    async def stop(self) -> None:
        """Stop feeding and end FFmpeg: close its input, then terminate, then kill."""
        for task in self._tasks:
            task.cancel()
        self.stats.ffmpeg_cpu_seconds += self.cpu_seconds()
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _feed(self) -> None:
        assert self._process is not None
        stdin = self._process.stdin
        assert stdin is not None
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            frame = self._latest_frame()
            if frame is not None:
                # Pre-roll: the first picture fills the first segments at once,
                # so a player can start now instead of after that many seconds.
                copies = self._preroll_frames if self.frames_out == 0 else 1
                try:
                    for _ in range(copies):
                        stdin.write(frame)
                    await stdin.drain()
                except BrokenPipeError, ConnectionResetError:
                    return
                self.frames_out += copies
                self.stats.frames_out += copies
                if frame is not self._last_fed:
                    self._last_fed = frame
                    self.stats.fresh_frames_out += 1
            # A fixed schedule, not sleep(interval): the rate must not drift.
            next_at += self._interval
            delay = next_at - loop.time()
            if delay < -self._interval:  # fell far behind (a busy loop): resync
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

    async def _read_log(self) -> None:
        assert self._process is not None
        stderr = self._process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log_tail.append(text)
            self._log.debug("ffmpeg: %s", text)
