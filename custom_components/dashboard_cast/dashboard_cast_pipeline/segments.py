"""Segments of our own: FFmpeg encodes what changed, a still segment is made again.

A still page used to cost FFmpeg a JPEG decode, a scale and an x264 frame five
times a second, for the same picture. Here FFmpeg gets a frame only while the
page changes; a segment whose frames all show the picture of the last still
segment FFmpeg encoded is that segment again, under new timestamps. Its bytes
are a valid stream on their own: it starts with a keyframe, and its other
frames refer only to it. Two segments are never both made of a single
keyframe (at least two frames a segment), so no two keyframes follow each
other with the same idr_pic_id.

FFmpeg writes a frame's fragment only when it receives the next frame (its
duration is known then). After the last frame of a segment it encoded it gets
the next one at once, even if that one turns out to belong to a still segment;
its fragment is then thrown away.

With silent audio, the sound is ours too (containers.py): the init segment
gets a second track, and every segment the silent AAC frames of its time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from .containers import Sample, TrackRun, media_fragment, silent_audio_run, with_silent_audio

MEDIA_PLAYLIST = "media.m3u8"
SEGMENT_PATTERN = "segment_%05d.m4s"
VIDEO_TRACK_ID = 1  # FFmpeg's only track
# Timescale units per frame: the track's timescale is this times the frame rate.
FRAME_TICKS = 1000


@dataclass(slots=True)
class _OpenSegment:
    """A segment whose frames are still coming, or whose encoding is not back yet."""

    pictures: list[bytes] = field(default_factory=list)
    encode: bool = False  # FFmpeg encodes it (else: the still segment again, if it can be)
    fed: int = 0  # its first frames given to FFmpeg so far
    samples: dict[int, Sample] = field(default_factory=dict)


@dataclass(slots=True)
class _Still:
    """The picture of the latest segment FFmpeg encoded with no change, and that segment."""

    picture: bytes
    segment: int
    samples: list[Sample] | None = None  # None until FFmpeg has returned all its frames


class SegmentAssembler:
    """Decide which frames FFmpeg encodes; put its frames and reused ones into segments.

    Frames are numbered from 0 on the encoder's timeline; a segment is
    frames_per_segment of them, its first a keyframe (FFmpeg forces one by time).
    """

    def __init__(self, frames_per_segment: int, *, reuse_still: bool = True) -> None:
        """Reuse still segments only when asked and when a segment has two frames or more."""
        self._per_segment = frames_per_segment
        self._reuse = reuse_still and frames_per_segment >= 2
        self._open: dict[int, _OpenSegment] = {}
        self._done: dict[int, list[Sample]] = {}
        self._next_out = 0
        self._still: _Still | None = None
        self._flush_due = False  # FFmpeg holds a frame we need until it gets another
        self.reused = 0  # segments made again from a still one
        self.encoded_frames = 0  # frames given to FFmpeg

    def add_frame(self, number: int, picture: bytes) -> list[tuple[int, bytes]]:
        """Take the picture of frame number at its tick; return the frames FFmpeg must get now."""
        index, position = divmod(number, self._per_segment)
        feed: list[tuple[int, bytes]] = []
        if position == 0:
            feed += self._close(index - 1)
            self._open[index] = _OpenSegment()
        segment = self._open[index]
        segment.pictures.append(picture)
        if not segment.encode and not self._is_still(picture):
            segment.encode = True
        if segment.encode or (position == 0 and self._flush_due):
            # A frame of a still segment only flushes the last frame FFmpeg holds.
            fed_now = self._feed_up_to(index, segment, position)
            self._flush_due = segment.encode and position == self._per_segment - 1
            feed += fed_now
        self.encoded_frames += len(feed)
        return feed

    def add_sample(self, number: int, sample: Sample) -> None:
        """Take one frame FFmpeg encoded; frames of a segment made without it are dropped."""
        index, position = divmod(number, self._per_segment)
        segment = self._open.get(index)
        if segment is None or not segment.encode:
            return
        segment.samples[position] = sample
        if len(segment.samples) < self._per_segment:
            return
        samples = [segment.samples[i] for i in range(self._per_segment)]
        del self._open[index]
        self._done[index] = samples
        if self._still is not None and self._still.segment == index:
            self._still.samples = samples

    def ready(self) -> list[tuple[int, list[Sample]]]:
        """Finished segments, in order, each once; a later one waits for an earlier one."""
        out = []
        while self._next_out in self._done:
            out.append((self._next_out, self._done.pop(self._next_out)))
            self._next_out += 1
        return out

    def _is_still(self, picture: bytes) -> bool:
        still = self._still
        return (
            self._reuse
            and still is not None
            and (picture is still.picture or picture == still.picture)
        )

    def _feed_up_to(
        self, index: int, segment: _OpenSegment, position: int
    ) -> list[tuple[int, bytes]]:
        first = index * self._per_segment
        feed = [(first + i, segment.pictures[i]) for i in range(segment.fed, position + 1)]
        segment.fed = max(segment.fed, position + 1)
        return feed

    def _close(self, index: int) -> list[tuple[int, bytes]]:
        """All frames of a segment are in: make it again from the still one, or have it encoded."""
        segment = self._open.get(index)
        if segment is None:
            return []
        if segment.encode:
            pictures = segment.pictures
            if self._reuse and all(p is pictures[0] or p == pictures[0] for p in pictures):
                self._still = _Still(pictures[0], index)
            return []
        still = self._still
        if still is not None and still.samples is not None:
            del self._open[index]
            self._done[index] = still.samples
            self.reused += 1
            return []
        # The still segment's encoding is not back yet: encode this one after all, late.
        segment.encode = True
        self._flush_due = True
        return self._feed_up_to(index, segment, self._per_segment - 1)


@dataclass(frozen=True, slots=True)
class _Listed:
    sequence: int
    duration: float
    init: str
    discontinuity: bool  # the timestamps or the init segment changed before this one


class MediaPlaylist:
    """Our segment files and the live media playlist that lists them, on disk.

    It outlives an encoder: a restarted one continues the same playlist (the
    segment numbers and the timeline go on, after a discontinuity) so players
    keep the same URL. Called from a worker thread: it writes files.
    """

    def __init__(
        self,
        out_dir: Path,
        segment_seconds: float,
        list_size: int,
        keep: int,
        *,
        silent_audio: bool = False,
    ) -> None:
        """List list_size segments; keep a segment's file for keep more after it left the list.

        silent_audio: add a silent AAC track to the init segments and the segments.
        """
        self._out_dir = out_dir
        self._silent_audio = silent_audio
        self._segment_seconds = segment_seconds
        self._list_size = list_size
        self._keep = keep
        self._listed: deque[_Listed] = deque()
        self._unlisted: deque[int] = deque()
        self._discontinuities_gone = 0
        self._init = ""
        self._discontinuity = False
        self.next_sequence = 0
        self.next_frame = 0  # the timeline, in frames: where the next segment starts

    def start_generation(self, init_name: str, init: bytes) -> None:
        """An encoder's init segment; its segments follow the earlier ones after a discontinuity."""
        self._write(init_name, with_silent_audio(init) if self._silent_audio else init)
        self._discontinuity = bool(self._init)
        self._init = init_name

    def add(self, samples: list[Sample], frame_rate: int) -> None:
        """Write the next segment and list it."""
        sequence = self.next_sequence
        runs = [TrackRun(VIDEO_TRACK_ID, self.next_frame * FRAME_TICKS, FRAME_TICKS, samples)]
        if self._silent_audio:
            runs.append(silent_audio_run(self.next_frame, len(samples), frame_rate))
        data = media_fragment(sequence + 1, runs)
        self._write(SEGMENT_PATTERN % sequence, data)
        self._listed.append(
            _Listed(sequence, len(samples) / frame_rate, self._init, self._discontinuity)
        )
        self._discontinuity = False
        self.next_sequence += 1
        self.next_frame += len(samples)
        while len(self._listed) > self._list_size:
            gone = self._listed.popleft()
            self._discontinuities_gone += gone.discontinuity
            self._unlisted.append(gone.sequence)
        self._write(MEDIA_PLAYLIST, self.text().encode())
        while len(self._unlisted) > self._keep:
            (self._out_dir / (SEGMENT_PATTERN % self._unlisted.popleft())).unlink(missing_ok=True)

    def text(self) -> str:
        """The playlist in FFmpeg's form (hls.served_media_playlist adds what players need)."""
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:7",
            f"#EXT-X-TARGETDURATION:{round(self._segment_seconds)}",
            f"#EXT-X-MEDIA-SEQUENCE:{self._listed[0].sequence if self._listed else 0}",
            f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuities_gone}",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        init = None
        for listed in self._listed:
            if listed.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            if listed.init != init:
                init = listed.init
                lines.append(f'#EXT-X-MAP:URI="{init}"')
            lines += [f"#EXTINF:{listed.duration:.6f},", SEGMENT_PATTERN % listed.sequence]
        return "\n".join(lines) + "\n"

    def _write(self, name: str, data: bytes) -> None:
        """Write a file under a temporary name first: a reader never gets half of it."""
        temporary = self._out_dir / f".{name}.tmp"
        temporary.write_bytes(data)
        temporary.replace(self._out_dir / name)
