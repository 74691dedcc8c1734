"""Live HLS of running sessions under an unguessable token path, with no Home Assistant.

Home Assistant's view (http.py) and the renderer service (service.py) both
answer with this.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import re
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from .encoder import MEDIA_PLAYLIST

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


async def stream_file(registry: StreamRegistry, token: str, filename: str) -> web.Response:
    """Answer one file of a live session, readable from any origin.

    No authentication: a Chromecast sends no credentials, and its receiver app
    fetches from its own origin. The 128-bit token in the path is the secret,
    and it dies with the session.
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
    else:
        response = await _playlist_or_segment(session, filename)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def _playlist_or_segment(session: StreamSession, filename: str) -> web.Response:
    assert session.out_dir is not None
    if filename == MASTER_PLAYLIST:
        return _no_cache(web.Response(text=session.master_playlist, content_type=HLS_CONTENT_TYPE))
    if filename == MEDIA_PLAYLIST:
        content_type = HLS_CONTENT_TYPE
    elif _INIT.fullmatch(filename):
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
    return _no_cache(response) if filename == MEDIA_PLAYLIST else response


def _no_cache(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-cache"
    return response
