"""The stream's timing: whole-frame segments, playlists players start close to live from."""

from __future__ import annotations

import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline.encoder import (
    ffmpeg_args,
    hold_back,
    last_media_sequence,
    master_playlist,
    segment_duration,
    served_media_playlist,
)

# What FFmpeg 9 writes for 0.4 s segments: a target duration of 0.
WRITTEN = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:0
#EXT-X-MEDIA-SEQUENCE:12
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:0.400000,
segment_00012.m4s
#EXTINF:0.400000,
segment_00013.m4s
"""


@pytest.mark.parametrize(
    ("fps", "asked", "real"),
    [(5, 0.5, 0.4), (5, 1.0, 1.0), (10, 0.5, 0.5), (1, 0.5, 1.0), (30, 4.0, 4.0)],
)
def test_segments_are_whole_frames(fps: int, asked: float, real: float) -> None:
    """A segment holds a whole number of frames, at least one."""
    assert segment_duration(fps, asked) == pytest.approx(real)


def test_keyframes_start_every_segment_by_time() -> None:
    """A keyframe where a frame's time starts a segment, whatever is left out."""
    args = ffmpeg_args(1280, 720, 5, 0.5, 2500)
    assert args[args.index("-force_key_frames") + 1] == "expr:eq(mod(round(t*5),2),0)"
    assert int(args[args.index("-g") + 1]) > 1000  # x264 adds none of its own
    assert args[args.index("-forced-idr") + 1] == "1"
    assert args[args.index("-f", args.index("pipe:0") + 1) + 1] == "mp4"
    assert "frag_every_frame" in args[args.index("-movflags") + 1]
    assert args[args.index("-video_track_timescale") + 1] == "5000"
    assert args[-1] == "pipe:1"
    assert "-an" in args
    assert "anullsrc" not in " ".join(args)


def test_silent_audio_is_named_but_never_encoded() -> None:
    """FFmpeg never sees sound (the silence is ours, segments.py); the master playlist names it."""
    assert 'CODECS="avc1.640029,mp4a.40.2"' in master_playlist(
        1280, 720, 5, 2500, silent_audio=True
    )
    assert 'CODECS="avc1.640029"' in master_playlist(1280, 720, 5, 2500)


@pytest.mark.parametrize(
    ("width", "height", "fps", "threads"),
    [(1280, 720, 5, "1"), (1920, 1080, 5, "1"), (1920, 1080, 10, "0"), (1280, 720, 30, "0")],
)
def test_encoder_threads_follow_the_pixel_rate(
    width: int, height: int, fps: int, threads: str
) -> None:
    """One x264 thread at a few frames a second; x264's own choice past 1080p at 5 fps."""
    args = ffmpeg_args(width, height, fps, 1.0, 2500)
    # The second -threads is the encoder's (the first, before the input, the decoder's).
    encoder = args.index("-threads", args.index("pipe:0"))
    assert args[encoder + 1] == threads


def test_served_playlist_tells_players_where_live_is() -> None:
    """A whole target duration, blocking reload, and a start a segment and a margin back."""
    served = served_media_playlist(WRITTEN, 0.4, 5)
    lines = served.splitlines()
    assert "#EXT-X-TARGETDURATION:1" in lines
    assert "#EXT-X-TARGETDURATION:0" not in lines
    assert hold_back(0.4, 5) == pytest.approx(0.55)
    assert "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=0.550" in lines
    assert "#EXT-X-START:TIME-OFFSET=-0.550,PRECISE=YES" in lines
    # Everything FFmpeg wrote is still there, in order.
    assert [line for line in lines if "SERVER-CONTROL" not in line and "X-START" not in line] == [
        line.replace("TARGETDURATION:0", "TARGETDURATION:1") for line in WRITTEN.splitlines()
    ]
    assert "#EXT-X-TARGETDURATION:4" in served_media_playlist(WRITTEN, 4.0, 5)
    # A playlist FFmpeg has not finished writing is passed on as it is.
    assert served_media_playlist("#EXTM3U\n", 0.4, 5) == "#EXTM3U\n"


@pytest.mark.parametrize(
    ("segment", "fps", "expected"),
    [(0.4, 5, 0.55), (2.0, 5, 2.15), (0.5, 2, 1.15), (1.0, 1, 2.15), (4.0, 1, 4.15)],
)
def test_players_hold_back_two_frames_at_least(segment: float, fps: int, expected: float) -> None:
    """A segment and the margin back, but never fewer than two frames (low frame rates)."""
    assert hold_back(segment, fps) == pytest.approx(expected)
    assert f"HOLD-BACK={expected:.3f}" in served_media_playlist(WRITTEN, segment, fps)


def test_last_media_sequence() -> None:
    """The newest listed segment's number, which a blocking request waits for."""
    assert last_media_sequence(WRITTEN) == 13
    assert last_media_sequence(WRITTEN.replace("SEQUENCE:12", "SEQUENCE:0")) == 1
    assert last_media_sequence("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n") is None
    assert last_media_sequence("#EXTM3U\n") is None
