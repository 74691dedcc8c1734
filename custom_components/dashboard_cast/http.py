"""Serve live HLS of running sessions from Home Assistant, under an unguessable token path."""

from __future__ import annotations

from aiohttp import web

from homeassistant.helpers.http import HomeAssistantView

from .dashboard_cast_pipeline.hls import STREAM_ROUTE, StreamRegistry, stream_file


class StreamView(HomeAssistantView):
    """Master playlist, media playlist, init segment and segments of a session.

    No authentication: a Chromecast sends no credentials. The 128-bit token in
    the path is the secret, and it dies with the session.
    """

    url = STREAM_ROUTE
    name = "api:dashboard_cast:stream"
    requires_auth = False
    cors_allowed = True

    def __init__(self, registry: StreamRegistry) -> None:
        """Serve the sessions of this registry."""
        self._registry = registry

    async def get(self, request: web.Request, token: str, filename: str) -> web.StreamResponse:
        """Answer one file of a live session, readable from any origin."""
        return await stream_file(self._registry, token, filename, request.query)

    async def head(self, request: web.Request, token: str, filename: str) -> web.StreamResponse:
        """Answer as GET without the body: some players and proxies probe with HEAD."""
        return await stream_file(self._registry, token, filename, request.query)
