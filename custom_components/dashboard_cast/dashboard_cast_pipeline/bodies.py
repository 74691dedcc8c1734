"""JSON requests and answers of the renderer API and the webhook, read and written one way."""

from __future__ import annotations

from http import HTTPStatus
import json
from typing import Any

from aiohttp import web


class RequestError(Exception):
    """Answer the caller with this status and message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        """The status and what to tell the caller."""
        super().__init__(message)
        self.status = status


def error_response(status: HTTPStatus, message: str) -> web.Response:
    """The JSON answer for a refused request."""
    return web.json_response({"status": "error", "message": message}, status=status)


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body, a JSON object of at most max_bytes; RequestError otherwise.

    Reads the pieces as they arrive (a body may come in several TCP segments) and
    never more than max_bytes + 1 of them, whatever the sender declares. Works on
    Home Assistant's stand-in requests too (a webhook delivered over the websocket
    API or by a cloudhook), which declare no length.
    """
    too_large = RequestError(
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"The body must be at most {max_bytes} bytes"
    )
    if (getattr(request, "content_length", None) or 0) > max_bytes:
        raise too_large
    raw = b""
    content = request.content  # Home Assistant's stand-in makes a new reader on each access
    while piece := await content.read(max_bytes + 1 - len(raw)):
        raw += piece
        if len(raw) > max_bytes:
            raise too_large
    try:
        body: Any = json.loads(raw)
    except ValueError, RecursionError:  # also bytes that are not UTF-8, or nested too deep
        raise RequestError(HTTPStatus.BAD_REQUEST, "The body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RequestError(HTTPStatus.BAD_REQUEST, "The body must be a JSON object")
    return dict(body)
