"""Still segments made again without FFmpeg: the stream real FFmpeg and our segments make."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline import encoder as encoder_module
from custom_components.dashboard_cast.dashboard_cast_pipeline.encoder import HlsEncoder, has_zscale
from custom_components.dashboard_cast.dashboard_cast_pipeline.segments import MEDIA_PLAYLIST

from ..media import FFMPEG, FFPROBE, close_to, run
from .conftest import BLUE, RED

FPS = 5
SEGMENT = 0.4  # two frames: what 0.5 s asked at 5 frames/s gives


async def jpeg(colour: str, size: str = "1280x720") -> bytes:
    """A JPEG of one colour, as Chromium's screencast would send."""
    return await run(
        FFMPEG, "-v", "error", "-f", "lavfi", "-i", f"color=c={colour}:s={size}",
        "-frames:v", "1", "-f", "mjpeg", "-",
    )  # fmt: skip


async def encode(out_dir: Path, shows: list[tuple[bytes, float]], **options: Any) -> HlsEncoder:
    """Run the real encoder on each picture for its seconds, in turn; return it stopped."""
    showing = [shows[0][0]]
    encoder = HlsEncoder(FFMPEG, out_dir, 1280, 720, FPS, 0.5, 2500, lambda: showing[0], **options)
    await encoder.start()
    try:
        for picture, seconds in shows:
            showing[0] = picture
            await asyncio.sleep(seconds)
    finally:
        await encoder.stop()
    return encoder


async def listed_media(out_dir: Path) -> bytes:
    """The init segment and every listed segment, in order: what a player plays."""
    playlist = (out_dir / MEDIA_PLAYLIST).read_text()
    names = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert playlist.count("#EXT-X-MAP") == 1
    return (out_dir / "init.mp4").read_bytes() + b"".join(
        (out_dir / name).read_bytes() for name in names
    )


async def probe_media(media: bytes, entries: str) -> bytes:
    """What ffprobe shows of these entries of a stream, as JSON."""
    return await run(
        FFPROBE, "-v", "error", "-f", "mp4", "-i", "pipe:0",
        "-show_entries", entries, "-of", "json",
        stdin=media,
    )  # fmt: skip


async def colours(media: bytes) -> list[tuple[int, int, int]]:
    """The mean colour of every picture, in order."""
    raw = await run(
        FFMPEG, "-v", "error", "-f", "mp4", "-i", "pipe:0",
        "-vf", "scale=4:4", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        stdin=media,
    )  # fmt: skip
    pictures = [raw[i : i + 48] for i in range(0, len(raw), 48)]
    return [tuple(sum(p[c::3]) // 16 for c in range(3)) for p in pictures]  # type: ignore[misc]


async def test_a_still_picture_costs_ffmpeg_nothing_and_plays_at_a_constant_rate(
    tmp_path: Path,
) -> None:
    """Still for seconds, then changed and back: FFmpeg encodes only around the changes.

    The stream a player gets is the same as before: every frame 1/fps long, a
    keyframe at every segment start and nowhere else, the change in its place.
    """
    red, blue = await jpeg("red"), await jpeg("blue")
    # The same picture again at the end, in new bytes.
    encoder = await encode(tmp_path, [(red, 2.5), (blue, 1.0), (bytes(red), 3.0)])
    stats = encoder.stats

    media = await listed_media(tmp_path)
    packets = json.loads(await probe_media(media, "packet=pts_time,duration_time,flags"))["packets"]
    assert len(packets) >= 20
    first = float(packets[0]["pts_time"])
    for number, packet in enumerate(packets):
        assert float(packet["pts_time"]) == round(first + number / FPS, 6)
        assert float(packet["duration_time"]) == 1 / FPS
        assert ("K" in packet["flags"]) == (number % 2 == 0), (number, packet)

    seen = await colours(media)
    assert len(seen) == len(packets)
    runs = [seen[0]]
    for colour in seen[1:]:
        if not close_to(colour, runs[-1]):
            runs.append(colour)
    assert [next(c for c in (RED, BLUE) if close_to(c, colour)) for colour in runs] == [
        RED,
        BLUE,
        RED,
    ]

    # Two changes: each one's segment, the still segment after it and a frame
    # to flush FFmpeg; the start's segment and flush. At least 13 of about 36
    # frames, and room for a few segments encoded late on a busy machine.
    assert stats.frames_out >= 32
    assert stats.frames_encoded <= 20, stats
    assert stats.segments_reused >= 8, stats
    segments = sorted(tmp_path.glob("segment_*.m4s"))
    # A reused segment is the still one again: the same frames, under a new time.
    mdats = [data[int.from_bytes(data[:4]) :] for data in (p.read_bytes() for p in segments)]
    assert all(mdat[4:8] == b"mdat" for mdat in mdats)
    assert len(set(mdats)) < len(mdats) - 4


@pytest.mark.parametrize(
    "size",
    [
        "640x360",  # half the stream's height: not to be taken for a field
        "853x480",  # odd: zoom 1.5 where the browser has no screen of that ratio (page.py)
        "1280x719",  # odd: zoom 3, 427 x 240 CSS pixels at ratio 3, fitted into 1280 x 720
    ],
)
async def test_a_page_of_another_size_fills_the_stream(tmp_path: Path, size: str) -> None:
    """A picture smaller than the stream (a zoomed page), even or odd in size, fills it."""
    small = await jpeg("blue", size)
    await encode(tmp_path, [(small, 1.5)])
    seen = await colours(await listed_media(tmp_path))
    assert len(seen) >= 4
    assert all(close_to(colour, BLUE) for colour in seen), seen


@pytest.mark.parametrize("zscale", [True, False], ids=["zscale", "swscale"])
async def test_the_stream_is_tv_range_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zscale: bool
) -> None:
    """JPEG's full range becomes the TV range H.264 players expect, with either scaler.

    White and black pages come out at luma 235 and 16 (not 255 and 0), with
    chroma at its middle, and the stream says it is TV range.
    """
    monkeypatch.setitem(encoder_module._ZSCALE_IN, FFMPEG, zscale)
    white, black = await jpeg("white"), await jpeg("black")
    await encode(tmp_path, [(white, 1.0), (black, 1.0)])
    assert encoder_module._ZSCALE_IN[FFMPEG] is zscale  # the encoder took the asked scaler

    media = await listed_media(tmp_path)
    streams = json.loads(await probe_media(media, "stream=pix_fmt,color_range"))["streams"]
    assert streams == [{"pix_fmt": "yuv420p", "color_range": "tv"}]
    raw = await run(
        FFMPEG, "-v", "error", "-f", "mp4", "-i", "pipe:0",
        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-",
        stdin=media,
    )  # fmt: skip
    luma, size = 1280 * 720, 1280 * 720 * 3 // 2
    pictures = [raw[i : i + size] for i in range(0, len(raw), size)]
    planes = [(p[:luma], p[luma:]) for p in (pictures[0], pictures[-1])]
    for (y, uv), expected in zip(planes, (235, 16), strict=True):
        assert abs(sum(y) / len(y) - expected) < 1, (sum(y) / len(y), expected)
        assert abs(sum(uv) / len(uv) - 128) < 1


async def test_has_zscale_asks_the_binary_once(tmp_path: Path) -> None:
    """Debian's FFmpeg has zscale; a binary that is not there has none, and is asked again."""
    encoder_module._ZSCALE_IN.pop(FFMPEG, None)
    assert await has_zscale(FFMPEG)
    assert encoder_module._ZSCALE_IN[FFMPEG] is True
    missing = str(tmp_path / "ffmpeg")
    assert not await has_zscale(missing)
    assert missing not in encoder_module._ZSCALE_IN
    without, asked = tmp_path / "ffmpeg-without-zimg", tmp_path / "asked"
    without.write_text(
        f"#!/bin/sh\necho >> {asked}\necho ' .. scale  V->V  Scale the input video size.'\n"
    )
    without.chmod(0o755)
    assert not await has_zscale(str(without))
    assert not await has_zscale(str(without))
    assert asked.read_text() == "\n"


async def test_silent_audio_of_our_own_follows_the_video(tmp_path: Path) -> None:
    """With silent audio, FFmpeg still encodes only changes; every segment carries its silence.

    The sound is a second track of the init segment: mono AAC at 48 kHz that
    decodes to zeros, in frames of 1024 samples without a gap, as long as the video.
    """
    red, blue = await jpeg("red"), await jpeg("blue")
    encoder = await encode(tmp_path, [(red, 2.0), (blue, 2.0)], silent_audio=True)
    assert encoder.stats.segments_reused >= 4, encoder.stats
    assert encoder.stats.frames_encoded < encoder.stats.frames_out - 8, encoder.stats

    media = await listed_media(tmp_path)
    probed = await probe_media(media, "stream=codec_name,profile,sample_rate,channels")
    streams = json.loads(probed)["streams"]
    assert [s["codec_name"] for s in streams] == ["h264", "aac"]
    assert (streams[1]["profile"], streams[1]["sample_rate"], streams[1]["channels"]) == (
        "LC",
        "48000",
        1,
    )

    packets = json.loads(await probe_media(media, "packet=stream_index,pts_time"))["packets"]
    video = [float(p["pts_time"]) for p in packets if p["stream_index"] == 0]
    audio = [float(p["pts_time"]) for p in packets if p["stream_index"] == 1]
    frame = 1024 / 48000
    assert len(video) >= 15
    # The sound starts with the video (within one AAC frame) and runs without a gap to its end.
    assert 0 <= audio[0] - video[0] < frame
    assert all(abs(b - a - frame) < 1e-4 for a, b in itertools.pairwise(audio))
    video_end, audio_end = video[-1] + 1 / FPS, audio[-1] + frame
    assert 0 <= audio_end - video_end < frame + 1e-4
    seen = await colours(media)
    assert close_to(seen[0], RED), seen
    assert close_to(seen[-1], BLUE), seen

    pcm = await run(
        FFMPEG, "-v", "error", "-f", "mp4", "-i", "pipe:0", "-map", "0:a",
        "-f", "s16le", "-ac", "1", "-",
        stdin=media,
    )  # fmt: skip
    assert len(pcm) // 2 == len(audio) * 1024
    assert pcm == bytes(len(pcm))
