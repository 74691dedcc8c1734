"""Our own segments: which frames FFmpeg encodes, still segments made again, the playlist."""

from __future__ import annotations

from pathlib import Path
import struct

import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline.containers import (
    SILENT_AAC_FRAME,
    Mp4Error,
    Sample,
    TrackRun,
    _children_in_order,
    box,
    fragment_time_and_sync,
    matroska_frame,
    matroska_header,
    media_fragment,
    silent_audio_run,
    with_silent_audio,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.segments import (
    MediaPlaylist,
    SegmentAssembler,
)

OLD = b"\xff\xd8old picture\xff\xd9"
NEW = b"\xff\xd8new picture\xff\xd9"


def encoded(number: int) -> Sample:
    """What FFmpeg returns for frame number: a keyframe at each segment start (two frames)."""
    return Sample(b"frame %d" % number, sync=number % 2 == 0)


def run(assembler: SegmentAssembler, first: int, pictures: list[bytes]) -> list[int]:
    """Tick through pictures from frame first on; FFmpeg answers each frame at the next feed.

    Returns the frame numbers FFmpeg got, in order.
    """
    fed: list[int] = []
    held: int | None = None  # FFmpeg writes a frame's fragment only when the next one comes
    for number, picture in enumerate(pictures, first):
        for got, _ in assembler.add_frame(number, picture):
            if held is not None:
                assembler.add_sample(held, encoded(held))
            held = got
            fed.append(got)
    return fed


def test_still_page_reuses_its_segment_and_encodes_nothing() -> None:
    """Once FFmpeg encoded a still segment, the next ones are that segment again."""
    assembler = SegmentAssembler(2)
    fed = run(assembler, 0, [OLD] * 20)
    # Segment 0 is encoded, then one frame flushes FFmpeg's last one; nothing after.
    assert fed == [0, 1, 2]
    ready = assembler.ready()
    assert [index for index, _ in ready] == list(range(9))
    assert ready[0][1] == [encoded(0), encoded(1)]
    for _, samples in ready[1:]:
        assert samples == ready[0][1]  # the still segment's bytes, retimed when written
    assert assembler.reused == 8
    assert assembler.encoded_frames == len(fed)
    assert assembler.ready() == []  # each segment once


def test_a_change_is_encoded_from_its_segment_start() -> None:
    """A change within a still segment: FFmpeg gets the segment's frames before it, in order."""
    assembler = SegmentAssembler(2)
    run(assembler, 0, [OLD] * 10)
    assembler.ready()
    fed: list[tuple[int, bytes]] = []
    fed += assembler.add_frame(10, OLD)  # segment 5 may still be a still one
    fed += assembler.add_frame(11, NEW)
    assert fed == [(10, OLD), (11, NEW)]
    # Equal bytes in a new object are the same picture: the segment after is encoded as the
    # new still one, and reused after that.
    fed2 = run(assembler, 12, [NEW, NEW[:], NEW, NEW, NEW, NEW])
    assert fed2[:2] == [12, 13]
    assert assembler.reused >= 1


def test_a_flush_frame_of_a_reused_segment_is_dropped() -> None:
    """FFmpeg's answer for a frame of a segment made without it is not used."""
    assembler = SegmentAssembler(2)
    run(assembler, 0, [OLD] * 12)
    segments = dict(assembler.ready())
    still = segments[1]
    assembler.add_sample(8, Sample(b"late flush frame", sync=True))  # segment 4: reused
    assert all(samples == still for index, samples in segments.items() if index >= 3)
    assert b"late flush frame" not in b"".join(s.data for v in segments.values() for s in v)


def test_without_the_still_segment_back_in_time_it_is_encoded_late() -> None:
    """If FFmpeg has not returned the still segment when the next one ends, that one is encoded."""
    assembler = SegmentAssembler(2)
    feed = [n for number in range(8) for n, _ in assembler.add_frame(number, OLD)]
    # FFmpeg never answered: each segment's frames go to it when the segment ends
    # (frame 7's with the segment's end at frame 8).
    assert feed == [0, 1, 2, 3, 4, 5, 6]
    assert assembler.reused == 0


def test_one_frame_segments_are_never_reused() -> None:
    """Two keyframes in a row must differ (idr_pic_id): one-frame segments are all encoded."""
    assembler = SegmentAssembler(1)
    assert run(assembler, 0, [OLD] * 10) == list(range(10))
    assert assembler.reused == 0
    assert SegmentAssembler(2, reuse_still=False).add_frame(0, OLD) == [(0, OLD)]


def test_media_fragment_round_trip() -> None:
    """The fragment names its time, its samples' sizes, durations and flags; data follows moof."""
    samples = [Sample(b"key", sync=True), Sample(b"other!", sync=False)]
    data = media_fragment(7, [TrackRun(1, 12_000, 1000, samples)])
    moof_size, moof = struct.unpack_from(">I4s", data)
    assert moof == b"moof"
    assert data[moof_size + 4 : moof_size + 8] == b"mdat"
    assert data[moof_size + 8 :] == b"keyother!"
    assert fragment_time_and_sync(data[8:moof_size]) == (12_000, True)
    # The trun's data offset points at the first sample, from the moof's start.
    trun = data.index(b"trun")
    (offset,) = struct.unpack_from(">i", data, trun + 12)
    assert data[offset : offset + 3] == b"key"
    assert struct.unpack_from(">III", data, trun + 16) == (1000, 3, 0x02000000)
    assert struct.unpack_from(">III", data, trun + 28) == (1000, 6, 0x01010000)
    with pytest.raises(Mp4Error):
        fragment_time_and_sync(b"\x00\x00\x00\x08free")
    tfdt_cut_short = box(b"tfhd", bytes(8)) + box(b"tfdt", b"\x01\0\0\0") + box(b"trun", bytes(8))
    with pytest.raises(Mp4Error, match="cut short"):
        fragment_time_and_sync(box(b"traf", tfdt_cut_short))


def test_matroska_frames_carry_their_time() -> None:
    """A frame is a cluster of its own with its millisecond timestamp; the header names MJPEG."""
    assert b"V_MJPEG" in matroska_header(5)
    frame = matroska_frame(1400, b"\xff\xd8x\xff\xd9")
    assert frame.startswith(b"\x1f\x43\xb6\x75")
    assert b"\xe7\x82\x05\x78" in frame  # Timestamp 1400
    assert frame.endswith(b"\x81\x00\x00\x80\xff\xd8x\xff\xd9")


def test_playlist_window_generations_and_files(tmp_path: Path) -> None:
    """A window of segments; a restarted encoder continues after a discontinuity, new init."""
    playlist = MediaPlaylist(tmp_path, 0.4, list_size=3, keep=2)
    two = [Sample(b"k", sync=True), Sample(b"p", sync=False)]
    playlist.start_generation("init.mp4", b"first init")
    for _ in range(3):
        playlist.add(two, 5)
    playlist.start_generation("init_1.mp4", b"second init")
    playlist.add(two, 5)
    text = (tmp_path / "media.m3u8").read_text()
    assert text.splitlines() == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:0",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MAP:URI="init.mp4"',
        "#EXTINF:0.400000,",
        "segment_00001.m4s",
        "#EXTINF:0.400000,",
        "segment_00002.m4s",
        "#EXT-X-DISCONTINUITY",
        '#EXT-X-MAP:URI="init_1.mp4"',
        "#EXTINF:0.400000,",
        "segment_00003.m4s",
    ]
    assert (tmp_path / "init.mp4").read_bytes() == b"first init"
    # The timeline goes on: segment 3 starts at frame 6.
    segment = (tmp_path / "segment_00003.m4s").read_bytes()
    assert fragment_time_and_sync(segment[8 : struct.unpack_from(">I", segment)[0]]) == (
        6000,
        True,
    )
    for _ in range(3):
        playlist.add(two, 5)
    text = (tmp_path / "media.m3u8").read_text()
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert "#EXT-X-DISCONTINUITY\n" not in text
    assert text.count("#EXT-X-MAP") == 1
    # Files stay for keep segments after they left the list, then go.
    names = sorted(path.name for path in tmp_path.glob("segment_*"))
    assert names == [f"segment_{n:05d}.m4s" for n in range(2, 7)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_silent_audio_tiles_the_video_timeline() -> None:
    """The AAC frames of consecutive segments follow each other without a gap or overlap."""
    end = 0
    for first_frame in range(0, 40, 2):  # 0.4 s segments at 5 frames/s
        audio = silent_audio_run(first_frame, 2, 5)
        assert audio.base_time == end
        assert audio.duration == 1024
        assert all(sample.data == SILENT_AAC_FRAME and sample.sync for sample in audio.samples)
        end = audio.base_time + 1024 * len(audio.samples)
        # Each frame starts before the next segment does (48000 / 5 samples a frame).
        assert audio.base_time < (first_frame + 2) * 9600 <= end
    assert end == 40 * 9600  # 8 s of video: 375 AAC frames exactly


def test_the_init_segment_gets_a_second_track() -> None:
    """Our silent track follows FFmpeg's video track; mvhd and mvex count it."""
    video_trak = box(b"trak", box(b"tkhd", bytes(24)))
    mvhd = box(b"mvhd", bytes(96) + (2).to_bytes(4, "big"))
    trex = box(b"trex", bytes(4) + (1).to_bytes(4, "big") + bytes(16))
    init = box(b"ftyp", b"iso5") + box(b"moov", mvhd + video_trak + box(b"mvex", trex))
    moov = dict(_children_in_order(with_silent_audio(init)))[b"moov"]
    boxes = _children_in_order(moov)
    assert [box_type for box_type, _ in boxes] == [b"mvhd", b"trak", b"trak", b"mvex"]
    assert boxes[0][1][-4:] == (3).to_bytes(4, "big")  # next_track_ID
    audio = boxes[2][1]
    assert b"soun" in audio
    assert b"mp4a" in audio
    assert b"\x05\x02\x11\x88" in audio  # AAC-LC, 48 kHz, mono
    trexes = [payload for box_type, payload in _children_in_order(boxes[3][1])]
    assert [int.from_bytes(t[4:8]) for t in trexes] == [1, 2]
    with pytest.raises(Mp4Error):
        with_silent_audio(box(b"ftyp", b"iso5"))


def test_a_fragment_of_two_tracks_points_each_run_at_its_data() -> None:
    """One traf for each track; each trun's data offset finds its own samples in mdat."""
    video = TrackRun(1, 10_000, 1000, [Sample(b"key", sync=True)])
    audio = silent_audio_run(10, 2, 5)
    data = media_fragment(3, [video, audio])
    moof_size = int.from_bytes(data[:4])
    assert data[moof_size + 4 : moof_size + 8] == b"mdat"
    truns = [i for i in range(len(data)) if data[i : i + 4] == b"trun"]
    assert len(truns) == 2
    offsets = [struct.unpack_from(">i", data, trun + 12)[0] for trun in truns]
    assert data[offsets[0] : offsets[0] + 3] == b"key"
    assert data[offsets[1] : offsets[1] + 4] == SILENT_AAC_FRAME
    assert len(data) - offsets[1] == 4 * len(audio.samples)
