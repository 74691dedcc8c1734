"""The two small containers between us and FFmpeg.

- In: live Matroska, one JPEG per block with its own timestamp. FFmpeg takes
  a block the moment it arrives, and the timestamps let the feeder leave out
  frames (a still segment made without FFmpeg) without moving the keyframes.
- Out: FFmpeg's fragmented MP4, one fragment per frame, read box by box; and
  the fragments of our segments, written here, one per segment.

And the one track FFmpeg never sees: the silent AAC of the silent audio
option, added to FFmpeg's init segment and to each of our segments.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import struct

# --- Matroska (EBML), only what a live stream of JPEG frames needs -----------

_UNKNOWN_SIZE = b"\x01\xff\xff\xff\xff\xff\xff\xff"
_TIMESTAMP_SCALE_NS = 1_000_000  # block timestamps in milliseconds


def _size(length: int) -> bytes:
    """An EBML element size: the shortest variable-length integer that holds it."""
    for width in range(1, 9):
        if length < (1 << (7 * width)) - 1:
            return ((1 << (7 * width)) | length).to_bytes(width, "big")
    raise ValueError(length)


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


def _element(element_id: bytes, payload: bytes) -> bytes:
    return element_id + _size(len(payload)) + payload


# The size the track declares. FFmpeg's MJPEG decoder takes a picture less than
# three quarters as high as the declared height for one field of an interlaced
# frame, and decodes nothing: a page smaller than the stream (zoomed, or a
# screencast at the page's own size) would never show. Declared this small,
# any picture is at least as large; FFmpeg scales what each JPEG holds.
_DECLARED_SIZE = 16


def matroska_header(fps: int) -> bytes:
    """The start of a live Matroska stream of one MJPEG track, of unknown length."""
    ebml = _element(
        b"\x1a\x45\xdf\xa3",
        _element(b"\x42\x86", _uint(1))  # EBMLVersion
        + _element(b"\x42\xf7", _uint(1))  # EBMLReadVersion
        + _element(b"\x42\xf2", _uint(4))  # EBMLMaxIDLength
        + _element(b"\x42\xf3", _uint(8))  # EBMLMaxSizeLength
        + _element(b"\x42\x82", b"matroska")  # DocType
        + _element(b"\x42\x87", _uint(4))  # DocTypeVersion
        + _element(b"\x42\x85", _uint(2)),  # DocTypeReadVersion
    )
    info = _element(b"\x15\x49\xa9\x66", _element(b"\x2a\xd7\xb1", _uint(_TIMESTAMP_SCALE_NS)))
    size = _element(b"\xb0", _uint(_DECLARED_SIZE)) + _element(b"\xba", _uint(_DECLARED_SIZE))
    track = _element(
        b"\xae",
        _element(b"\xd7", _uint(1))  # TrackNumber
        + _element(b"\x73\xc5", _uint(1))  # TrackUID
        + _element(b"\x83", _uint(1))  # TrackType: video
        + _element(b"\x86", b"V_MJPEG")  # CodecID
        + _element(b"\x23\xe3\x83", _uint(round(1e9 / fps)))  # DefaultDuration, ns
        + _element(b"\xe0", size),  # Video: PixelWidth, PixelHeight
    )
    segment = b"\x18\x53\x80\x67" + _UNKNOWN_SIZE
    return ebml + segment + info + _element(b"\x16\x54\xae\x6b", track)


def matroska_frame(milliseconds: int, jpeg: bytes) -> bytes:
    """One JPEG as a cluster of its own, a keyframe at the given time."""
    block = b"\x81" + struct.pack(">hB", 0, 0x80) + jpeg  # track 1, +0 ms, keyframe
    return _element(
        b"\x1f\x43\xb6\x75", _element(b"\xe7", _uint(milliseconds)) + _element(b"\xa3", block)
    )


# --- Fragmented MP4 (ISO BMFF) ------------------------------------------------

# Sample flags (ISO/IEC 14496-12 8.8.3.1): a sync sample depends on nothing;
# any other depends on others and is not a sync sample.
SYNC_SAMPLE_FLAGS = 0x02000000
OTHER_SAMPLE_FLAGS = 0x01010000
_TFHD_DEFAULT_FLAGS = 0x000020
_TFHD_DEFAULT_BASE_IS_MOOF = 0x020000
_TRUN_DATA_OFFSET = 0x000001
_TRUN_FIRST_SAMPLE_FLAGS = 0x000004
_TRUN_SAMPLE_DURATION = 0x000100
_TRUN_SAMPLE_SIZE = 0x000200
_TRUN_SAMPLE_FLAGS = 0x000400


class Mp4Error(Exception):
    """FFmpeg's MP4 output is not what it was asked for."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One encoded frame: its bytes and whether a player can start decoding at it."""

    data: bytes
    sync: bool


def box(box_type: bytes, payload: bytes) -> bytes:
    """An ISO BMFF box."""
    return struct.pack(">I4s", 8 + len(payload), box_type) + payload


def _full_box(box_type: bytes, version: int, flags: int, payload: bytes) -> bytes:
    return box(box_type, struct.pack(">I", (version << 24) | flags) + payload)


async def read_box(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """The next top-level box of a stream, its type and payload; None at its end."""
    try:
        header = await reader.readexactly(8)
    except asyncio.IncompleteReadError as err:
        if err.partial:
            raise Mp4Error("The stream ended inside a box") from err
        return None
    size, box_type = struct.unpack(">I4s", header)
    try:
        header_size = 8
        if size == 1:
            (size,) = struct.unpack(">Q", await reader.readexactly(8))
            header_size = 16
        if size < header_size:  # 0 (to the end) is never written in fragmented output
            raise Mp4Error(f"Box {box_type!r} of size {size}")
        return box_type, await reader.readexactly(size - header_size)
    except asyncio.IncompleteReadError as err:
        raise Mp4Error("The stream ended inside a box") from err


def _children_in_order(payload: bytes) -> list[tuple[bytes, bytes]]:
    """The boxes inside a container box's payload: their types and payloads, in order."""
    found: list[tuple[bytes, bytes]] = []
    offset = 0
    while offset + 8 <= len(payload):
        size, box_type = struct.unpack_from(">I4s", payload, offset)
        if size < 8 or offset + size > len(payload):
            raise Mp4Error(f"Box {box_type!r} of size {size} overruns its parent")
        found.append((box_type, payload[offset + 8 : offset + size]))
        offset += size
    return found


def _children(payload: bytes) -> dict[bytes, bytes]:
    """The boxes inside a container box's payload, by type (the first of each)."""
    found: dict[bytes, bytes] = {}
    for box_type, child in _children_in_order(payload):
        found.setdefault(box_type, child)
    return found


def fragment_time_and_sync(moof: bytes) -> tuple[int, bool]:
    """A one-sample fragment's decode time (tfdt) and whether its sample is a sync sample."""
    try:
        return _time_and_sync(moof)
    except struct.error as err:  # a box shorter than its fields
        raise Mp4Error(f"A fragment cut short: {err}") from err


def _time_and_sync(moof: bytes) -> tuple[int, bool]:
    traf = _children(moof).get(b"traf")
    if traf is None:
        raise Mp4Error("A fragment without a track")
    boxes = _children(traf)
    tfdt, tfhd, trun = boxes.get(b"tfdt"), boxes.get(b"tfhd"), boxes.get(b"trun")
    if tfdt is None or tfhd is None or trun is None:
        raise Mp4Error("A fragment without tfdt, tfhd or trun")
    time = struct.unpack_from(">Q" if tfdt[0] == 1 else ">I", tfdt, 4)[0]
    trun_flags = int.from_bytes(trun[1:4], "big")
    offset = 8 + (4 if trun_flags & _TRUN_DATA_OFFSET else 0)
    if trun_flags & _TRUN_FIRST_SAMPLE_FLAGS:
        flags = struct.unpack_from(">I", trun, offset)[0]
    elif trun_flags & _TRUN_SAMPLE_FLAGS:
        offset += sum(4 for bit in (_TRUN_SAMPLE_DURATION, _TRUN_SAMPLE_SIZE) if trun_flags & bit)
        flags = struct.unpack_from(">I", trun, offset)[0]
    else:
        flags = _tfhd_default_flags(tfhd)
    return time, not flags & 0x00010000  # sample_is_non_sync_sample


def _tfhd_default_flags(tfhd: bytes) -> int:
    flags = int.from_bytes(tfhd[1:4], "big")
    if not flags & _TFHD_DEFAULT_FLAGS:
        raise Mp4Error("A fragment that does not say whether its sample is a sync sample")
    # track_ID, then the optional fields before default_sample_flags, in order.
    offset = 8
    for bit, width in ((0x01, 8), (0x02, 4), (0x08, 4), (0x10, 4)):
        if flags & bit:
            offset += width
    return int(struct.unpack_from(">I", tfhd, offset)[0])


@dataclass(frozen=True, slots=True)
class TrackRun:
    """A track's samples in a fragment: of equal duration, from base_time on (its timescale)."""

    track_id: int
    base_time: int
    duration: int
    samples: list[Sample]


def media_fragment(sequence: int, runs: list[TrackRun]) -> bytes:
    """A moof with a traf for each run, and the mdat that holds their samples in order."""

    def moof(first_offset: int) -> bytes:
        trafs = b""
        offset = first_offset
        for run in runs:
            entries = b"".join(
                struct.pack(
                    ">III",
                    run.duration,
                    len(sample.data),
                    SYNC_SAMPLE_FLAGS if sample.sync else OTHER_SAMPLE_FLAGS,
                )
                for sample in run.samples
            )
            trun = _full_box(
                b"trun",
                0,
                _TRUN_DATA_OFFSET | _TRUN_SAMPLE_DURATION | _TRUN_SAMPLE_SIZE | _TRUN_SAMPLE_FLAGS,
                struct.pack(">Ii", len(run.samples), offset) + entries,
            )
            trafs += box(
                b"traf",
                _full_box(b"tfhd", 0, _TFHD_DEFAULT_BASE_IS_MOOF, struct.pack(">I", run.track_id))
                + _full_box(b"tfdt", 1, 0, struct.pack(">Q", run.base_time))
                + trun,
            )
            offset += sum(len(sample.data) for sample in run.samples)
        return box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)) + trafs)

    # A data offset counts from the moof's start to its run's first sample in mdat.
    size = len(moof(0))
    data = b"".join(sample.data for run in runs for sample in run.samples)
    return moof(size + 8) + box(b"mdat", data)


# --- A silent AAC track of our own ---------------------------------------------

# Mono AAC-LC at 48 kHz: the AudioSpecificConfig (object type 2, rate index 3,
# one channel), and one frame of 1024 samples of silence, as FFmpeg's AAC
# encoder writes it for silence (a frame with no spectral data).
AUDIO_TRACK_ID = 2
AUDIO_RATE = 48_000
AAC_FRAME_SAMPLES = 1024
_AAC_CONFIG = b"\x11\x88"
SILENT_AAC_FRAME = b"\x01\x18\x20\x07"
_UNITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _descriptor(tag: int, payload: bytes) -> bytes:
    """An MPEG-4 descriptor (ISO/IEC 14496-1), its size in one byte."""
    return bytes([tag, len(payload)]) + payload


def _silent_audio_trak() -> bytes:
    esds = _full_box(
        b"esds",
        0,
        0,
        _descriptor(
            0x03,  # ES_Descriptor: ES_ID 0, no flags
            b"\0\0\0"
            + _descriptor(
                0x04,  # DecoderConfigDescriptor: MPEG-4 audio, an audio stream
                struct.pack(">BB3sII", 0x40, 0x15, b"\0\0\0", 0, 0)
                + _descriptor(0x05, _AAC_CONFIG),
            )
            + _descriptor(0x06, b"\x02"),  # SLConfigDescriptor: predefined for MP4
        ),
    )
    mp4a = box(
        b"mp4a",
        bytes(6)
        + struct.pack(">H", 1)  # data_reference_index
        + bytes(8)
        + struct.pack(">HHHHI", 1, 16, 0, 0, AUDIO_RATE << 16)
        + esds,
    )
    empty_tables = b"".join(
        _full_box(name, 0, 0, bytes(size))
        for name, size in ((b"stts", 4), (b"stsc", 4), (b"stco", 4))
    ) + _full_box(b"stsz", 0, 0, bytes(8))
    stbl = box(b"stbl", _full_box(b"stsd", 0, 0, struct.pack(">I", 1) + mp4a) + empty_tables)
    dinf = box(
        b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1) + _full_box(b"url ", 0, 1, b""))
    )
    minf = box(b"minf", _full_box(b"smhd", 0, 0, bytes(4)) + dinf + stbl)
    mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, AUDIO_RATE, 0, 0x55C4, 0))  # und
    hdlr = _full_box(b"hdlr", 0, 0, bytes(4) + b"soun" + bytes(12) + b"SoundHandler\0")
    tkhd = _full_box(
        b"tkhd",
        0,
        0x3,  # enabled, in the movie
        struct.pack(">IIIII", 0, 0, AUDIO_TRACK_ID, 0, 0)
        + bytes(8)
        + struct.pack(">hhhH", 0, 1, 0x0100, 0)  # layer, alternate group, full volume
        + _UNITY_MATRIX
        + struct.pack(">II", 0, 0),
    )
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


def with_silent_audio(init: bytes) -> bytes:
    """FFmpeg's init segment (ftyp and moov, one video track) with our silent track added."""
    top = _children_in_order(init)
    moov = next((payload for box_type, payload in top if box_type == b"moov"), None)
    if moov is None:
        raise Mp4Error("An init segment without moov")
    children = []
    for box_type, payload in _children_in_order(moov):
        changed = payload
        if box_type == b"mvhd":  # next_track_ID is its last field
            changed = payload[:-4] + struct.pack(">I", AUDIO_TRACK_ID + 1)
        elif box_type == b"mvex":
            changed += _full_box(b"trex", 0, 0, struct.pack(">IIIII", AUDIO_TRACK_ID, 1, 0, 0, 0))
        children.append(box(box_type, changed))
        if box_type == b"trak":
            children.append(_silent_audio_trak())
    new_moov = box(b"moov", b"".join(children))
    return b"".join(
        new_moov if box_type == b"moov" else box(box_type, payload) for box_type, payload in top
    )


def silent_audio_run(first_frame: int, frames: int, frame_rate: int) -> TrackRun:
    """The silent AAC frames that start within video frames [first_frame, first_frame + frames).

    Counted from the video's timeline, so the sound follows it across segments
    and encoder generations without a gap or an overlap.
    """

    def first_at_or_after(frame: int) -> int:
        return -(-frame * AUDIO_RATE // (frame_rate * AAC_FRAME_SAMPLES))

    first = first_at_or_after(first_frame)
    count = first_at_or_after(first_frame + frames) - first
    return TrackRun(
        AUDIO_TRACK_ID,
        first * AAC_FRAME_SAMPLES,
        AAC_FRAME_SAMPLES,
        [Sample(SILENT_AAC_FRAME, sync=True)] * count,
    )
