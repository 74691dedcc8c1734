"""Fetch a live stream the way a Cast receiver's player does: from another origin.

The Cast Web Receiver is a page on https://www.gstatic.com; its player sends
Origin with every request, may probe with HEAD, and a browser sends a preflight
(OPTIONS) before any request it cannot send plainly.
"""

from __future__ import annotations

import asyncio
import re
import time

from aiohttp import ClientResponse, ClientSession

from custom_components.dashboard_cast.dashboard_cast_pipeline.encoder import last_media_sequence

RECEIVER_ORIGIN = "https://www.gstatic.com"
HLS = "application/vnd.apple.mpegurl"


def allowed_origins(response: ClientResponse) -> list[str]:
    """Every Access-Control-Allow-Origin header of a response (a browser wants one)."""
    return response.headers.getall("Access-Control-Allow-Origin", [])


def _readable_from_receiver(response: ClientResponse) -> None:
    origins = allowed_origins(response)
    assert len(origins) == 1, f"{response.method} {response.url}: {origins}"
    assert origins[0] in ("*", RECEIVER_ORIGIN)


async def _get(http: ClientSession, url: str) -> tuple[ClientResponse, bytes]:
    async with http.get(url, headers={"Origin": RECEIVER_ORIGIN}) as response:
        return response, await response.read()


async def check_stream_serving(master_url: str) -> None:
    """Assert every file of a live stream answers a receiver's GET, HEAD and preflight.

    One Access-Control-Allow-Origin per answer, the content types players
    expect, playlists never cached and segments cacheable, and 404 (still
    readable by the receiver) for files and tokens that do not exist.
    """
    base = master_url.rsplit("/", 1)[0]
    async with ClientSession() as http:
        master, body = await _get(http, master_url)
        assert master.status == 200
        media_name = next(
            line for line in body.decode().splitlines() if line and not line.startswith("#")
        )
        _, body = await _get(http, f"{base}/{media_name}")
        playlist = body.decode()
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', playlist)
        assert init is not None
        segment = [line for line in playlist.splitlines() if line.endswith(".m4s")][-1]
        expected = {
            master_url: (HLS, "no-cache"),
            f"{base}/{media_name}": (HLS, "no-cache"),
            f"{base}/{init.group(1)}": ("video/mp4", "immutable"),
            f"{base}/{segment}": ("video/iso.segment", "immutable"),
            f"{base}/thumbnail.jpg": ("image/jpeg", "no-cache"),
        }
        for url, (content_type, cache) in expected.items():
            response, body = await _get(http, url)
            assert response.status == 200, url
            _readable_from_receiver(response)
            assert response.content_type == content_type, url
            assert cache in response.headers.get("Cache-Control", ""), url
            async with http.head(url, headers={"Origin": RECEIVER_ORIGIN}) as head:
                assert head.status == 200, url
                _readable_from_receiver(head)
                assert head.content_type == content_type, url
                assert await head.read() == b""
                if cache == "immutable":  # a file: HEAD tells its size
                    assert int(head.headers["Content-Length"]) == len(body), url
            preflight_headers = {"Origin": RECEIVER_ORIGIN, "Access-Control-Request-Method": "GET"}
            async with http.options(url, headers=preflight_headers) as preflight:
                assert preflight.status == 200, url
                _readable_from_receiver(preflight)
                methods = preflight.headers.get("Access-Control-Allow-Methods", "")
                assert "GET" in methods.upper() or methods == "*", methods

        unknown = base.rsplit("/", 1)[0] + "/" + "0" * 32 + "/master.m3u8"
        for url in (unknown, f"{base}/other.txt", f"{base}/segment_99999.m4s"):
            response, _ = await _get(http, url)
            assert response.status == 404, url
            _readable_from_receiver(response)


async def check_blocking_reload(master_url: str) -> None:
    """Assert the media playlist answers blocking requests (_HLS_msn) as RFC 8216bis says.

    A request for a segment to come is held until that segment is listed; one
    for a listed segment answers at once; one too far ahead is refused.
    """
    media_url = master_url.rsplit("/", 1)[0] + "/media.m3u8"
    async with ClientSession() as http:
        _, body = await _get(http, media_url)
        last = last_media_sequence(body.decode())
        assert last is not None
        assert "CAN-BLOCK-RELOAD=YES" in body.decode()
        # Two ahead: the next one may be listed between these two requests,
        # the one after it cannot (a segment lasts 0.4 s or more).
        started = time.monotonic()
        response, body = await _get(http, f"{media_url}?_HLS_msn={last + 2}")
        held = time.monotonic() - started
        assert response.status == 200
        _readable_from_receiver(response)
        assert (last_media_sequence(body.decode()) or -1) >= last + 2
        assert held > 0.1  # it waited for FFmpeg to list the segment
        started = time.monotonic()
        response, _ = await _get(http, f"{media_url}?_HLS_msn={last}")
        assert response.status == 200
        assert time.monotonic() - started < 0.5
        for wanted in (str(last + 10), "-1", "x"):
            response, _ = await _get(http, f"{media_url}?_HLS_msn={wanted}")
            assert response.status == 400, wanted
        # Several players may wait at once.
        answers = await asyncio.gather(
            *(_get(http, f"{media_url}?_HLS_msn={last + 2}") for _ in range(3))
        )
        assert [response.status for response, _ in answers] == [200, 200, 200]
