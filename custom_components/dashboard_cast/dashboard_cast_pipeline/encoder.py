"""FFmpeg: JPEG frames in at a constant rate, live fMP4 HLS out."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
import logging
import math
from pathlib import Path
import re

from .options import AAC_CODECS, H264_CODECS
from .priority import lower_priority
from .watchdog import PipelineStats, cpu_seconds

_LOGGER = logging.getLogger(__name__)

MEDIA_PLAYLIST = "media.m3u8"
INIT_SEGMENT = "init.mp4"
SEGMENT_PATTERN = "segment_%05d.m4s"
# The media playlist lists this much of the stream, whatever the segment length:
# a slow player that fetches late still finds its next segment (short windows
# froze real Android TV players in other projects).
PLAYLIST_SECONDS = 6.0
# A segment stays on disk this long after it left the playlist, for a player
# that fetched the playlist just before.
DELETE_AFTER_SECONDS = 3.0
# How far behind the newest listed segment a player starts (HOLD-BACK): the
# segment being written, plus this margin for fetching, appending and a busy
# moment of the encoder. The wait for the next playlist is not in it: players
# block on the next segment's playlist (CAN-BLOCK-RELOAD) and hear of it at once.
HOLD_BACK_MARGIN = 0.15
# Silence in mono AAC-LC at 48 kHz, in the cheapest form a receiver plays.
SILENT_AUDIO_INPUT = ("-f", "lavfi", "-i", "anullsrc=channel_layout=mono:sample_rate=48000")
SILENT_AUDIO_OUTPUT = ("-map", "1:a", "-c:a", "aac", "-b:a", "24k", "-shortest")
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 30
# How far ahead of each write the frame clock renders the page (capture.py):
# a render and its picture take 10 to 30 ms.
FRAME_LEAD = 0.05
# Segments the first picture fills at start: a player needs two to begin.
PREROLL_SEGMENTS = 2


def segment_frames(fps: int, segment_seconds: float) -> int:
    """Frames per segment: a whole number, so every segment starts on a frame."""
    return max(1, round(fps * segment_seconds))


def segment_duration(fps: int, segment_seconds: float) -> float:
    """The segment length the stream really has: the asked one, rounded to whole frames."""
    return segment_frames(fps, segment_seconds) / fps


def hold_back(segment: float) -> float:
    """Seconds behind the newest listed segment that a player plays (see HOLD_BACK_MARGIN)."""
    return round(segment + HOLD_BACK_MARGIN, 3)


def target_duration(segment: float) -> int:
    """EXT-X-TARGETDURATION: a whole number of seconds, at least the segment length."""
    return max(1, math.ceil(segment))


def last_media_sequence(media_playlist: str) -> int | None:
    """The media sequence number of the newest segment a media playlist lists."""
    sequence = re.search(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)$", media_playlist, re.MULTILINE)
    listed = media_playlist.count("#EXTINF:")
    if sequence is None or listed == 0:
        return None
    return int(sequence.group(1)) + listed - 1


def served_media_playlist(written: str, segment: float) -> str:
    """FFmpeg's media playlist as players get it.

    - EXT-X-TARGETDURATION becomes a whole number of at least 1: FFmpeg rounds
      0.4 s down to 0, which players may divide by.
    - CAN-BLOCK-RELOAD: the server holds a request for a segment that is
      not listed yet until it is (hls.py).
    - HOLD-BACK and EXT-X-START tell how far from the live edge to play.
      Without them players start three target durations behind the newest
      segment (Shaka Player, the Cast Web Receiver's HLS player, and hls.js):
      3 s behind for segments of 0.4 s. HOLD-BACK sets Shaka's and hls.js's
      distance; EXT-X-START is where other players start. It is below the
      three target durations RFC 8216bis asks for, since the segments are far
      shorter than the target duration; players play it without a stall
      (tests/live/test_receiver.py).
    """
    head, found, rest = written.partition("#EXT-X-TARGETDURATION:")
    if not found:
        return written
    _, _, rest = rest.partition("\n")
    distance = hold_back(segment)
    return (
        f"{head}#EXT-X-TARGETDURATION:{target_duration(segment)}\n"
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK={distance:.3f}\n"
        f"#EXT-X-START:TIME-OFFSET=-{distance:.3f},PRECISE=YES\n"
        f"{rest}"
    )


def ffmpeg_args(
    out_dir: Path,
    width: int,
    height: int,
    fps: int,
    segment_seconds: float,
    max_kbps: int,
    *,
    generation: int = 0,
    silent_audio: bool = False,
    transpose: str | None = None,
) -> list[str]:
    """Return FFmpeg's arguments after the binary.

    transpose ("clock" or "cclock") turns the frames (a portrait page) a quarter
    before they are scaled to width x height, so they stand upright on a
    screen hung on its side.

    silent_audio adds a silent AAC track to the same segments, for receivers
    that play no video-only HLS. FFmpeg's scheduler reads the endless silence
    only as far as the video has come, so it keeps pace with the frames.

    A later generation continues the playlist an earlier FFmpeg of the session
    left: the segment numbers go on, and a discontinuity tells the player that
    the timestamps start over, so it keeps playing from the same URL. Its init
    segment gets a new name: rewriting the old one in place would hand a
    player that fetches it meanwhile half a file.
    """
    gop = segment_frames(fps, segment_seconds)
    segment = gop / fps
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
        # Each JPEG framed with its length (multipart): FFmpeg takes a frame
        # the moment it arrives. As a bare JPEG stream (image2pipe) a frame
        # waits for the next one, which shows where its end was: a frame
        # interval of delay on every change.
        "-f", "mpjpeg", "-strict_mime_boundary", "0", "-i", "pipe:0",
        *(SILENT_AUDIO_INPUT if silent_audio else ()),
        "-map", "0:v",
        *(SILENT_AUDIO_OUTPUT if silent_audio else ("-an",)),
        # The timeline is the frame count, which the feeder keeps in step with the clock.
        "-vf", ",".join([
            f"setpts=N/({fps}*TB)",
            *([f"transpose={transpose}"] if transpose else []),
            f"scale={width}:{height}:out_range=tv,format=yuv420p",
        ]),
        "-r", str(fps),
        "-c:v", "libx264",
        # veryfast, not ultrafast: ultrafast silently drops to Constrained Baseline.
        "-preset", "veryfast", "-tune", "zerolatency",
        "-profile:v", "high", "-level:v", "4.1", "-pix_fmt", "yuv420p",
        "-crf", "23", "-maxrate", f"{max_kbps}k", "-bufsize", f"{2 * max_kbps}k",
        # A keyframe at every segment start, and nowhere else. Counted in
        # frames: a sum of float seconds would miss a boundary now and then.
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-force_key_frames", f"expr:eq(mod(n,{gop}),0)",
        "-f", "hls",
        "-hls_time", f"{segment:.6f}",
        "-hls_list_size", str(math.ceil(PLAYLIST_SECONDS / segment)),
        "-hls_delete_threshold", str(math.ceil(DELETE_AFTER_SECONDS / segment)),
        "-hls_flags", flags,
        "-hls_segment_type", "fmp4",
        "-hls_fmp4_init_filename", init_segment(generation),
        "-hls_segment_filename", str(out_dir / SEGMENT_PATTERN),
        str(out_dir / MEDIA_PLAYLIST),
    ]  # fmt: skip


def init_segment(generation: int) -> str:
    """The init segment's file name of an encoder generation."""
    return INIT_SEGMENT if generation == 0 else f"init_{generation}.mp4"


def multipart(jpeg: bytes) -> bytes:
    """A JPEG as one part of a multipart stream, FFmpeg's mpjpeg input."""
    return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%b\r\n" % (
        len(jpeg),
        jpeg,
    )


def master_playlist(
    width: int, height: int, fps: int, max_kbps: int, *, silent_audio: bool = False
) -> str:
    """Return the master playlist.

    Chromecasts play a video-only HLS stream only when the master playlist
    names its codecs, resolution and bandwidth.
    """
    codecs = f"{H264_CODECS},{AAC_CODECS}" if silent_audio else H264_CODECS
    return (
        "#EXTM3U\n"
        "#EXT-X-VERSION:7\n"
        "#EXT-X-INDEPENDENT-SEGMENTS\n"
        f"#EXT-X-STREAM-INF:BANDWIDTH={max_kbps * 1000},RESOLUTION={width}x{height},"
        f'CODECS="{codecs}",FRAME-RATE={fps:.3f}\n'
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
        before_frame: Callable[[], Awaitable[None]] | None = None,
        stats: PipelineStats | None = None,
        generation: int = 0,
        resume_after: float = 0.0,
        silent_audio: bool = False,
        transpose: str | None = None,
    ) -> None:
        """Initialize; call start(). Log lines go to log (the session's, with its prefix).

        generation counts the session's encoders: a later one continues the
        stream of the one before, whose output stopped resume_after seconds
        ago; the first picture fills that gap (up to the usual pre-roll), so
        the stream's timeline keeps pace with the clock.

        before_frame(): awaited FRAME_LEAD before every write, for at most that
        long: the frame clock renders the page then, so its picture is written.
        """
        self._binary = binary
        self._args = ffmpeg_args(
            out_dir,
            width,
            height,
            fps,
            segment_seconds,
            max_kbps,
            generation=generation,
            silent_audio=silent_audio,
            transpose=transpose,
        )
        self._interval = 1.0 / fps
        preroll_seconds = segment_duration(fps, segment_seconds) * PREROLL_SEGMENTS
        if generation:
            preroll_seconds = min(preroll_seconds, resume_after)
        self._preroll_frames = max(1, round(fps * preroll_seconds))
        self._latest_frame = latest_frame
        self._before_frame = before_frame
        self._log = log
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_fed: bytes | None = None
        self._last_part = b""  # the last fed frame, framed for FFmpeg
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
        """Write the latest frame on a fixed schedule, locked to the clock.

        The stream's timeline is its frame count; players expect it to keep
        pace with the wall clock. When the loop falls behind (a busy moment),
        the missed ticks are written at once as repeats instead of skipped, so
        the stream never falls behind the clock and a player at the live edge
        never runs out of picture.
        """
        assert self._process is not None
        stdin = self._process.stdin
        assert stdin is not None
        loop = asyncio.get_running_loop()
        started_at: float | None = None  # loop time of the first frame
        # before_frame() runs this long ahead of each write: the page renders
        # then, and its picture is in when the write is due.
        lead = min(FRAME_LEAD, self._interval / 2) if self._before_frame is not None else 0.0
        write_at: float | None = None
        while True:
            if self._before_frame is not None:
                try:
                    async with asyncio.timeout(lead):
                        await self._before_frame()
                # A page that does not render in time keeps its last picture;
                # the session's watchdog judges whether it hangs.
                except Exception:  # noqa: BLE001
                    self._log.debug("No frame rendered in time for this tick", exc_info=True)
                if write_at is not None:
                    await asyncio.sleep(max(0.0, write_at - loop.time()))
            frame = self._latest_frame()
            now = loop.time()
            if frame is not None:
                if started_at is None:
                    started_at = now
                # The first picture fills the pre-roll at once, so a player can
                # start now instead of after that many seconds.
                due = self._preroll_frames + int((now - started_at) / self._interval)
                copies = max(1, due - self.frames_out)
                if frame is not self._last_fed:
                    self._last_fed = frame
                    self._last_part = multipart(frame)
                    self.stats.fresh_frames_out += 1
                try:
                    for _ in range(copies):
                        stdin.write(self._last_part)
                    await stdin.drain()
                except BrokenPipeError, ConnectionResetError:
                    return
                self.frames_out += copies
                self.stats.frames_out += copies
                next_at = started_at + (self.frames_out - self._preroll_frames + 1) * self._interval
            else:
                next_at = now + self._interval
            write_at = next_at
            await asyncio.sleep(max(0.0, next_at - lead - loop.time()))

    async def _read_log(self) -> None:
        assert self._process is not None
        stderr = self._process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log_tail.append(text)
            self._log.debug("ffmpeg: %s", text)
