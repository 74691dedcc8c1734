"""FFmpeg: JPEG frames in on the stream's clock, live fMP4 HLS out.

FFmpeg gets the frames in Matroska and returns each encoded frame in
fragmented MP4; segments.py puts them into segments and writes the playlist,
makes a still segment again without FFmpeg, and adds the silent sound when
the stream carries one. FFmpeg only ever encodes video.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
import functools
import logging
import math
from pathlib import Path
import re
import time

from .containers import (
    Mp4Error,
    Sample,
    box,
    fragment_time_and_sync,
    matroska_frame,
    matroska_header,
    read_box,
)
from .options import AAC_CODECS, H264_CODECS
from .priority import lower_priority
from .segments import (
    FRAME_TICKS,
    MEDIA_PLAYLIST,
    MediaPlaylist,
    SegmentAssembler,
)
from .watchdog import PipelineStats, cpu_seconds

_LOGGER = logging.getLogger(__name__)

INIT_SEGMENT = "init.mp4"
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
# ...and at least this many frames: the receiver's player (Shaka, on
# Chromium's media stack) stalls, waiting for data, with fewer ahead of it (at
# 1 or 2 frames/s, segments of one frame).
FRAMES_HELD_BACK = 2
STOP_TIMEOUT = 5.0
LOG_TAIL_LINES = 30
# How far ahead of each write the frame clock renders the page (capture.py):
# a render and its picture take 10 to 30 ms.
FRAME_LEAD = 0.05
# Segments the first picture fills at start: a player needs two to begin.
PREROLL_SEGMENTS = 2
# x264's own keyframe interval where keyframes are forced by time only: never.
NO_KEYFRAME_INTERVAL = 100_000
# x264's cheapest analysis (ultrafast) costs a third less than veryfast on a
# page that moves. ultrafast alone would silently drop to Constrained Baseline:
# CABAC and the 8x8 transform keep the stream High profile (what the master
# playlist declares). Deblocking keeps the edges of moving parts clean, and
# adaptive quantization the flat background next to an edge (text on a card):
# without it, ringing shows there. The stream takes more bits, which a home
# network does not feel.
X264_PRESET = ("-preset", "ultrafast", "-x264-params", "cabac=1:8x8dct=1:deblock=0,0:aq-mode=1")
# Up to this many pixels a second, x264 encodes in one thread: at a few frames
# a second, threads cost more in handing work over (a fifth more CPU) than they
# save. Past it (1080p at 5 fps), a small ARM core alone might fall behind.
ONE_THREAD_PIXEL_RATE = 1920 * 1080 * 5
# How long listing FFmpeg's filters may take.
PROBE_TIMEOUT = 10.0
_ZSCALE_IN: dict[str, bool] = {}  # FFmpeg binary: has zscale


def encoder_threads(width: int, height: int, fps: int) -> int:
    """x264's threads: one at a low pixel rate, else as many as x264 finds best (0)."""
    return 1 if width * height * fps <= ONE_THREAD_PIXEL_RATE else 0


def segment_frames(fps: int, segment_seconds: float) -> int:
    """Frames per segment: a whole number, so every segment starts on a frame."""
    return max(1, round(fps * segment_seconds))


def segment_duration(fps: int, segment_seconds: float) -> float:
    """The segment length the stream really has: the asked one, rounded to whole frames."""
    return segment_frames(fps, segment_seconds) / fps


def hold_back(segment: float, fps: int) -> float:
    """Seconds behind the newest listed segment that a player plays (see HOLD_BACK_MARGIN)."""
    return round(max(segment, FRAMES_HELD_BACK / fps) + HOLD_BACK_MARGIN, 3)


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


def served_media_playlist(written: str, segment: float, fps: int) -> str:
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
    distance = hold_back(segment, fps)
    return (
        f"{head}#EXT-X-TARGETDURATION:{target_duration(segment)}\n"
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK={distance:.3f}\n"
        f"#EXT-X-START:TIME-OFFSET=-{distance:.3f},PRECISE=YES\n"
        f"{rest}"
    )


def scale_filter(width: int, height: int, *, zscale: bool) -> str:
    """Scale a frame to width x height and from JPEG's full range to the stream's TV range.

    zimg (zscale) converts the range at a sixth of swscale's cost (0.2 against
    1.2 ms a 720p frame here, where FFmpeg spends about 6 ms a frame on a page
    that moves); swscale is the way where FFmpeg was built without zimg.
    zimg takes only whole chroma samples: a picture of odd width or height (a
    zoomed page fitted into the stream's size) loses its last column or row first.
    """
    if zscale:
        return (
            "crop=trunc(iw/2)*2:trunc(ih/2)*2:0:0,"
            f"zscale=w={width}:h={height}:filter=bicubic:rangein=full:range=limited,format=yuv420p"
        )
    return f"scale={width}:{height}:out_range=tv,format=yuv420p"


async def has_zscale(binary: str) -> bool:
    """Whether this FFmpeg has the zscale filter (asked once per binary)."""
    if binary not in _ZSCALE_IN:
        listed = await _list_filters(binary)
        if listed is None:
            return False
        _ZSCALE_IN[binary] = re.search(rb"^\s*\S+\s+zscale\s", listed, re.MULTILINE) is not None
        _LOGGER.debug("%s has zscale: %s", binary, _ZSCALE_IN[binary])
    return _ZSCALE_IN[binary]


async def _list_filters(binary: str) -> bytes | None:
    """FFmpeg's list of its filters; None if it gave none (its start reports why)."""
    try:
        process = await asyncio.create_subprocess_exec(
            binary,
            "-hide_banner",
            "-filters",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        _LOGGER.debug("Could not run %s", binary, exc_info=True)
        return None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            listed, _ = await process.communicate()
    except TimeoutError:
        _LOGGER.debug("%s did not list its filters", binary)
        return None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return listed if process.returncode == 0 else None


def ffmpeg_args(
    width: int,
    height: int,
    fps: int,
    segment_seconds: float,
    max_kbps: int,
    *,
    transpose: str | None = None,
    zscale: bool = False,
) -> list[str]:
    """Return FFmpeg's arguments after the binary.

    transpose ("clock" or "cclock") turns the frames (a portrait page) a quarter
    before they are scaled to width x height, so they stand upright on a
    screen hung on its side. zscale: scale with zimg (has_zscale).

    FFmpeg reads Matroska with a timestamp on every frame and writes
    fragmented MP4, one fragment per frame, to its standard output. The
    feeder leaves out the frames of still segments; a keyframe is forced
    wherever a segment starts by the frame's time, so the frames that are
    left out do not move it. A later encoder of the session continues the
    playlist the earlier one left (segments.py).
    """
    gop = segment_frames(fps, segment_seconds)
    scale = [
        *([f"transpose={transpose}"] if transpose else []),
        scale_filter(width, height, zscale=zscale),
    ]
    return [
        "-hide_banner",
        "-loglevel", "warning",
        "-nostdin",
        # Start at once: do not wait to probe a stream we describe exactly.
        "-probesize", "32", "-analyzeduration", "0", "-fpsprobesize", "0",
        # One decoder thread: frame threads would hold back frames, adding latency.
        "-threads", "1",
        "-f", "matroska", "-i", "pipe:0",
        "-map", "0:v", "-an",
        "-vf", ",".join(scale), "-fps_mode", "passthrough",
        "-c:v", "libx264",
        *X264_PRESET, "-tune", "zerolatency",
        "-threads", str(encoder_threads(width, height, fps)),
        "-profile:v", "high", "-level:v", "4.1", "-pix_fmt", "yuv420p",
        "-crf", "23", "-maxrate", f"{max_kbps}k", "-bufsize", f"{2 * max_kbps}k",
        # A keyframe (an IDR: nothing after it refers to anything before) at
        # every segment start, and nowhere else: by the frame's own time (whole
        # milliseconds, rounded back to its number), as x264's own count would
        # go wrong over the frames left out.
        "-g", str(NO_KEYFRAME_INTERVAL),
        "-force_key_frames", f"expr:eq(mod(round(t*{fps}),{gop}),0)",
        "-keyint_min", str(gop), "-sc_threshold", "0", "-forced-idr", "1",
        *_fragments_output(fps),
    ]  # fmt: skip


def _fragments_output(fps: int) -> list[str]:
    """Fragmented MP4 on standard output: a fragment per frame, a frame lasting FRAME_TICKS."""
    return [
        "-f", "mp4",
        "-movflags", "empty_moov+default_base_moof+frag_every_frame",
        "-video_track_timescale", str(fps * FRAME_TICKS),
        "-flush_packets", "1",
        "pipe:1",
    ]  # fmt: skip


def playlist_size(segment: float) -> int:
    """Segments the media playlist lists (PLAYLIST_SECONDS of stream)."""
    return math.ceil(PLAYLIST_SECONDS / segment)


def kept_after_listing(segment: float) -> int:
    """Segments whose files stay after they left the playlist (DELETE_AFTER_SECONDS)."""
    return math.ceil(DELETE_AFTER_SECONDS / segment)


def init_segment(generation: int) -> str:
    """The init segment's file name of an encoder generation."""
    return INIT_SEGMENT if generation == 0 else f"init_{generation}.mp4"


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
    """An FFmpeg process fed on the stream's clock.

    FFmpeg does not fill gaps in real time: fed only when the page changes, it
    would emit nothing while the page is still. The feeder takes the latest
    frame every 1/fps seconds. FFmpeg gets the frames of the segments that
    change and segments.py makes the still ones.
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
        timeline_origin: float | None = None,
        playlist: MediaPlaylist | None = None,
        silent_audio: bool = False,
        transpose: str | None = None,
    ) -> None:
        """Initialize; call start(). Log lines go to log (the session's, with its prefix).

        generation counts the session's encoders: a later one continues the
        stream of the one before (its playlist), whose timeline_origin it
        gets. Its first picture fills the whole gap since that encoder's
        output stopped, so the stream's timeline keeps pace with the clock.
        Players' live edge follows the clock: a timeline behind it by more
        than the playlist lists leaves Shaka Player (the Cast receiver's)
        waiting past the newest segment for good. A still picture's segments
        are reused, so filling costs FFmpeg a segment or two.

        before_frame(): awaited FRAME_LEAD before every write, for at most that
        long: the frame clock renders the page then, so its picture is written.
        """
        self._binary = binary
        self._args = functools.partial(
            ffmpeg_args, width, height, fps, segment_seconds, max_kbps, transpose=transpose
        )
        self._fps = fps
        self._interval = 1.0 / fps
        segment = segment_duration(fps, segment_seconds)
        self._preroll_frames = max(1, round(fps * segment * PREROLL_SEGMENTS))
        # The loop's time at which the stream's timeline was at 0: set by the
        # first encoder at its first frame, kept by the ones after it.
        self.timeline_origin = timeline_origin
        self._latest_frame = latest_frame
        self._before_frame = before_frame
        self._log = log
        self._process: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._last_fed: bytes | None = None
        self._header = matroska_header(fps)
        self._init_name = init_segment(generation)
        # The playlist goes on from the encoder before (silent_audio is its own then).
        self.playlist = playlist or MediaPlaylist(
            out_dir,
            segment,
            playlist_size(segment),
            kept_after_listing(segment),
            silent_audio=silent_audio,
        )
        self._assembler = SegmentAssembler(segment_frames(fps, segment_seconds))
        self._publishing = asyncio.Lock()
        self._stopping = False
        self.log_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.stats = stats if stats is not None else PipelineStats()
        self.frames_out = 0
        self.started_at: float | None = None  # wall-clock time FFmpeg started

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
        """Start FFmpeg, the feeder and the reader of its fragments."""
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            *self._args(zscale=await has_zscale(self._binary)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self.started_at = time.time()
        # It reads /proc: not in the event loop.
        await asyncio.to_thread(lower_priority, self._process.pid)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._feed(), name="dashboard_cast feeder"),
            loop.create_task(self._read_log(), name="dashboard_cast ffmpeg log"),
            loop.create_task(self._read_fragments(), name="dashboard_cast ffmpeg fragments"),
        ]

    async def stop(self, *, kill: bool = False) -> None:
        """Stop feeding and end FFmpeg: close its input, then kill it (at once if asked)."""
        self._stopping = True
        if self._tasks:
            self._tasks[0].cancel()  # the feeder: nothing more goes in
        self.stats.ffmpeg_cpu_seconds += self.cpu_seconds()
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if kill:
                process.kill()
            if process.stdin is not None:
                process.stdin.close()
            try:  # the readers drain FFmpeg's output meanwhile, so it can end
                await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def _frames_for_ffmpeg(self, frame: bytes, copies: int) -> bytes:
        """The bytes FFmpeg gets for the next copies ticks, all showing frame."""
        first = self.frames_out
        reused = self._assembler.reused
        feed = [
            fed
            for number in range(first, first + copies)
            for fed in self._assembler.add_frame(number, frame)
        ]
        self.stats.frames_encoded += len(feed)
        self.stats.segments_reused += self._assembler.reused - reused
        return b"".join(
            matroska_frame(round(number * 1000 / self._fps), picture) for number, picture in feed
        )

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
        stdin.write(self._header)
        loop = asyncio.get_running_loop()
        started_at: float | None = None  # loop time of the first frame
        # Frames due before the first one's time: the pre-roll, or for a later
        # encoder, the stream's time since its origin less what it already has.
        ahead = self._preroll_frames
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
                    if self.timeline_origin is None:
                        self.timeline_origin = now - ahead * self._interval
                    else:
                        behind = round((now - self.timeline_origin) / self._interval)
                        ahead = max(1, behind - self.playlist.next_frame)
                # The first picture fills the pre-roll (or the gap) at once, so
                # a player can start now instead of after that many seconds.
                due = ahead + int((now - started_at) / self._interval)
                copies = max(1, due - self.frames_out)
                if frame is not self._last_fed:
                    self._last_fed = frame
                    self.stats.fresh_frames_out += 1
                try:
                    stdin.write(self._frames_for_ffmpeg(frame, copies))
                    await stdin.drain()
                except BrokenPipeError, ConnectionResetError:
                    return
                self.frames_out += copies
                self.stats.frames_out += copies
                await self._publish()
                next_at = started_at + (self.frames_out - ahead + 1) * self._interval
            else:
                next_at = now + self._interval
            write_at = next_at
            await asyncio.sleep(max(0.0, next_at - lead - loop.time()))

    async def _read_fragments(self) -> None:
        """Take FFmpeg's encoded frames (video only) into segments; its init segment first."""
        assert self._process is not None
        assert self._process.stdout is not None
        stdout = self._process.stdout
        init = b""
        fragment: tuple[int, bool] | None = None  # the last moof's time and sync flag
        try:
            while (found := await read_box(stdout)) is not None:
                box_type, payload = found
                if self._stopping:
                    continue  # drained, so that FFmpeg can end
                if box_type in {b"ftyp", b"moov"}:
                    init += box(box_type, payload)
                    if box_type == b"moov":
                        await asyncio.to_thread(
                            self.playlist.start_generation, self._init_name, init
                        )
                elif box_type == b"moof":
                    fragment = fragment_time_and_sync(payload)
                elif box_type == b"mdat" and fragment is not None:
                    time, sync = fragment
                    self._assembler.add_sample(round(time / FRAME_TICKS), Sample(payload, sync))
                    await self._publish()
        except (Mp4Error, OSError) as err:
            if self._stopping:
                return  # killed on the way out
            # No more segments would come: end FFmpeg, so the watchdog restarts it.
            self.log_tail.append(f"Unreadable output: {err}")
            self._log.warning("FFmpeg's output cannot be read: %s", err)
            if self._process is not None and self._process.returncode is None:
                self._process.kill()

    async def _publish(self) -> None:
        """Write the segments that are complete, in order (video only)."""
        async with self._publishing:
            for _, samples in self._assembler.ready():
                if self._stopping:
                    return
                await asyncio.to_thread(self.playlist.add, samples, self._fps)

    async def _read_log(self) -> None:
        assert self._process is not None
        stderr = self._process.stderr
        assert stderr is not None
        while line := await stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log_tail.append(text)
            self._log.debug("ffmpeg: %s", text)
