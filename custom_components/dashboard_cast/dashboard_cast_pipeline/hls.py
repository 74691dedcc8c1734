"""Live HLS of running sessions under an unguessable token path, with no Home Assistant.

Home Assistant's view (http.py) and the renderer service (server.py) both
answer with this.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from http import HTTPStatus
import re
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from .encoder import last_media_sequence, served_media_playlist, target_duration
from .segments import MEDIA_PLAYLIST

if TYPE_CHECKING:
    from .session import StreamSession

MASTER_PLAYLIST = "master.m3u8"
# The latest frame: the thumbnail the device shows in its media controls.
THUMBNAIL = "thumbnail.jpg"
URL_PREFIX = "/api/dashboard_cast"
STREAM_ROUTE = URL_PREFIX + "/{token:[0-9a-f]{32}}/{filename}"
_SEGMENT = re.compile(r"segment_\d{5,}\.m4s")
_INIT = re.compile(r"init(_\d{1,6})?\.mp4")  # a restarted encoder writes init_1.mp4, …
HLS_CONTENT_TYPE = "application/vnd.apple.mpegurl"
# A blocking playlist request waits at most this many target durations (the RFC's figure).
BLOCKING_RELOAD_TARGETS = 3
BLOCKING_POLL_SECONDS = 0.02


def segment_formats(*, silent_audio: bool) -> dict[str, str]:
    """What the Cast SDK's MediaInformation says of the segments (fragmented MP4).

    Without it a receiver assumes MPEG-TS. hlsSegmentFormat is the audio's.
    """
    formats = {"hlsVideoSegmentFormat": "fmp4"}
    if silent_audio:
        formats["hlsSegmentFormat"] = "fmp4"
    return formats


def stream_path(token: str, filename: str = MASTER_PLAYLIST) -> str:
    """Return the path of a session's master playlist, or of another of its files."""
    return f"{URL_PREFIX}/{token}/{filename}"


class StreamRegistry:
    """The sessions whose stream URLs answer; a stopped session is removed first."""

    def __init__(self) -> None:
        """Start empty."""
        self._sessions: list[StreamSession] = []

    def add(self, session: StreamSession) -> None:
        """Make a session's URLs answer."""
        self._sessions.append(session)

    def remove(self, session: StreamSession) -> None:
        """Make a session's URLs answer 404 from now on."""
        if session in self._sessions:
            self._sessions.remove(session)

    def find(self, token: str) -> StreamSession | None:
        """Return the session with this token, comparing in constant time."""
        found = None
        for session in self._sessions:
            if secrets.compare_digest(session.token, token):
                found = session
        return found


async def stream_file(
    registry: StreamRegistry, token: str, filename: str, query: Mapping[str, str]
) -> web.Response:
    """Answer one file of a live session (GET; aiohttp drops the body for HEAD).

    No authentication: a Chromecast sends no credentials. The 128-bit token in
    the path is the secret, and it dies with the session. The caller makes the
    answer readable from the receiver's origin (CORS): Home Assistant's CORS
    layer for its view, the renderer service itself.
    """
    session = registry.find(token)
    if session is None or session.out_dir is None:
        response = web.Response(status=HTTPStatus.NOT_FOUND)
    elif filename == THUMBNAIL:
        frame = session.latest_frame
        response = (
            web.Response(status=HTTPStatus.NOT_FOUND)
            if frame is None
            else _no_cache(web.Response(body=frame, content_type="image/jpeg"))
        )
    elif filename == MASTER_PLAYLIST:
        response = _no_cache(
            web.Response(text=session.master_playlist, content_type=HLS_CONTENT_TYPE)
        )
    elif filename == MEDIA_PLAYLIST:
        response = await _media_playlist(session, query)
    else:
        response = await _segment(session, filename)
    return response


async def _media_playlist(session: StreamSession, query: Mapping[str, str]) -> web.Response:
    """The media playlist; with _HLS_msn, once it lists that segment (blocking reload).

    A player that asks for the next segment's number learns of it the moment
    FFmpeg lists it, instead of at its next poll: it can play closer to live
    without running dry (RFC 8216bis 6.2.5.2).
    """
    assert session.out_dir is not None
    path = session.out_dir / MEDIA_PLAYLIST
    try:
        wanted = int(query["_HLS_msn"]) if "_HLS_msn" in query else None
    except ValueError:
        wanted = -1
    if wanted is not None and wanted < 0:
        return web.Response(status=HTTPStatus.BAD_REQUEST)
    segment = session.options.segment_duration
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BLOCKING_RELOAD_TARGETS * target_duration(segment)
    while True:
        try:
            text = await asyncio.to_thread(path.read_text)
        except OSError:
            return web.Response(status=HTTPStatus.NOT_FOUND)
        last = last_media_sequence(text)
        if wanted is None or (last is not None and wanted <= last):
            break
        if last is not None and wanted > last + 2:
            return web.Response(status=HTTPStatus.BAD_REQUEST)  # as the RFC asks
        if loop.time() >= deadline:
            return web.Response(status=HTTPStatus.SERVICE_UNAVAILABLE)
        await asyncio.sleep(BLOCKING_POLL_SECONDS)
    text = served_media_playlist(text, segment, session.options.fps)
    return _no_cache(web.Response(text=text, content_type=HLS_CONTENT_TYPE))


async def _segment(session: StreamSession, filename: str) -> web.Response:
    assert session.out_dir is not None
    if _INIT.fullmatch(filename):
        content_type = "video/mp4"
    elif _SEGMENT.fullmatch(filename):
        content_type = "video/iso.segment"
    else:
        return web.Response(status=HTTPStatus.NOT_FOUND)
    try:
        body = await asyncio.to_thread((session.out_dir / filename).read_bytes)
    except OSError:
        return web.Response(status=HTTPStatus.NOT_FOUND)
    response = web.Response(body=body, content_type=content_type)
    # A segment or init segment never changes under its name: a later encoder
    # of the session writes new names.
    response.headers["Cache-Control"] = "max-age=3600, immutable"
    return response


def readable_from_any_origin(response: web.Response) -> web.Response:
    """Let a receiver page of any origin read the answer (CORS, where no layer does it)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def stream_preflight(request: web.Request) -> web.Response:
    """Answer a browser's CORS preflight for a stream file, where no layer does it."""
    response = web.Response(
        headers={
            "Access-Control-Allow-Methods": "GET, HEAD",
            "Access-Control-Max-Age": "600",
        }
    )
    if asked := request.headers.get("Access-Control-Request-Headers"):
        response.headers["Access-Control-Allow-Headers"] = asked
    return readable_from_any_origin(response)


def _no_cache(response: web.Response) -> web.Response:
    """Playlists and the thumbnail change all the time: a player must fetch them anew."""
    response.headers["Cache-Control"] = "no-cache"
    return response
