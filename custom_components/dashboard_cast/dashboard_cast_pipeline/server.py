"""The renderer service: the render pipeline over HTTP, for a renderer outside Home Assistant.

Home Assistant OS and Container cannot run Playwright (no musl build), so the
integration can hand rendering to this service, run elsewhere (an add-on, a
glibc machine). It imports nothing of Home Assistant.

API (JSON; every /api/renderer request carries ``Authorization: Bearer <secret>``):

- ``GET /api/renderer/health``: the service and its Chromium; 502 when the browser
  endpoint it is set to drive (``--cdp-url``) does not answer or refuses its token.
- ``POST /api/renderer/sessions``: start rendering a page; answers the
  session's id and its master playlist path under an unguessable token.
- ``GET /api/renderer/sessions/{id}``: state, playability and pipeline figures.
- ``DELETE /api/renderer/sessions/{id}``: stop it; its stream URL dies first.
- ``POST /api/renderer/sessions/{id}/reload``: load the page again.
- ``POST /api/renderer/sessions/{id}/show``: show another page (``{"url": …}``);
  the stream goes on. The session's login and allowed origins stay those of its start.
- ``GET /api/renderer/sessions/{id}/frame``: the latest frame as JPEG (204 before the first).

The stream itself (``/api/dashboard_cast/<token>/…``) needs no secret: the
Chromecast pulls it directly, and the 128-bit token is the key.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
import logging
from pathlib import Path
import secrets
import shutil
import tempfile
import time
from typing import Any

from aiohttp import web
import probatio

from .bodies import RequestError, error_response, read_json_object
from .browser import BrowserPool
from .cdp import CdpError
from .egress import MAX_ALLOWED_ORIGINS, origin_endpoint
from .hls import (
    STREAM_ROUTE,
    StreamRegistry,
    readable_from_any_origin,
    stream_file,
    stream_path,
    stream_preflight,
)
from .options import stream_option_fields
from .page import is_url
from .protocol import API_PREFIX
from .redact import text_for_logs, url_for_logs, url_secrets
from .session import SessionIdentity, StreamOptions, StreamSession
from .watchdog import SlidingWindow

_LOGGER = logging.getLogger(__name__)

MAX_SESSIONS = 8  # one shared Chromium; more streams than this would starve it
MAX_BODY_BYTES = 16384
DEFAULT_WORK_DIR = Path(tempfile.gettempdir()) / "dashboard_cast_renderer"
# A session nobody asked after for this long is stopped: its Home Assistant is
# gone (a crash, a restart) and will not delete it. Home Assistant polls every 2 s.
DEFAULT_SESSION_TTL = 60.0
# A brake on guessing the secret: this many wrong ones from an address within the
# window, and that address is refused (even with the right one) until it clears.
MAX_WRONG_SECRETS = 5
WRONG_SECRET_WINDOW = 60.0


def _http_url(value: Any) -> str:
    url = str(probatio.Url()(value))
    if not is_url(url):
        raise probatio.Invalid("only http:// and https:// pages can be rendered")
    return str(url)


def _origin(value: Any) -> str:
    try:
        origin_endpoint(str(value))
    except ValueError as err:
        raise probatio.Invalid(str(err)) from None
    return str(value)


SESSION_SCHEMA = probatio.Schema(
    {
        probatio.Required("url"): _http_url,
        **stream_option_fields(defaults=True),
        # The caller may choose the stream token (128 random bits, as hex), so it
        # knows the stream URL before the session starts.
        probatio.Optional("token"): probatio.All(str, probatio.Match(r"^[0-9a-f]{32}$")),
        # Home Assistant's origin and a refresh token, to open its dashboards logged in.
        probatio.Inclusive("hass_url", "login"): _http_url,
        probatio.Inclusive("refresh_token", "login"): probatio.All(
            str, probatio.Length(min=1, max=1024)
        ),
        # Origins the page may reach on loopback or the LAN (egress.py); public
        # addresses are open, Home Assistant's origin is open to its own dashboards.
        probatio.Optional("allowed_origins", default=list): probatio.All(
            [_origin], probatio.Length(max=MAX_ALLOWED_ORIGINS)
        ),
    }
)

SHOW_SCHEMA = probatio.Schema({probatio.Required("url"): _http_url})


class RendererService:
    """Sessions, the shared browser and the HTTP routes of the service."""

    def __init__(
        self,
        secret: str,
        pool: BrowserPool,
        ffmpeg_binary: str,
        work_dir: Path,
        session_ttl: float = DEFAULT_SESSION_TTL,
    ) -> None:
        """Serve with this shared secret; pool is the browser all sessions share.

        work_dir holds the sessions' folders and belongs to this service alone: a
        crashed service's leftovers are removed when the next one starts.
        session_ttl: a session nobody asks after (status, frame, reload) for this
        many seconds is stopped.
        """
        if len(secret) < 16:
            raise ValueError("the secret must have at least 16 characters")
        self._secret = secret
        self._pool = pool
        self._ffmpeg_binary = ffmpeg_binary
        self._work_dir = work_dir
        self._registry = StreamRegistry()
        self._sessions: dict[str, StreamSession] = {}
        self._failures: dict[str, str] = {}  # why a session's watchdog gave up
        self._starting: dict[str, str] = {}  # session id → token, while its page loads
        self._asked: dict[str, float] = {}  # session id → when its caller last asked
        self._session_ttl = session_ttl
        self._lock = asyncio.Lock()  # held for bookkeeping only, never across a page load
        self._tasks: set[asyncio.Task[None]] = set()
        self._expiry: asyncio.Task[None] | None = None
        self._wrong_secrets: dict[str, SlidingWindow] = {}  # by caller address

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._authenticate], client_max_size=MAX_BODY_BYTES)
        app.router.add_get(API_PREFIX + "/health", self._health)
        app.router.add_post(API_PREFIX + "/sessions", self._start)
        app.router.add_get(API_PREFIX + "/sessions/{session_id}", self._status)
        app.router.add_delete(API_PREFIX + "/sessions/{session_id}", self._stop)
        app.router.add_post(API_PREFIX + "/sessions/{session_id}/reload", self._reload)
        app.router.add_post(API_PREFIX + "/sessions/{session_id}/show", self._show)
        app.router.add_get(API_PREFIX + "/sessions/{session_id}/frame", self._frame)
        app.router.add_get(STREAM_ROUTE, self._stream)  # and HEAD
        app.router.add_route("OPTIONS", STREAM_ROUTE, stream_preflight)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(API_PREFIX + "/"):
            caller = request.remote or ""
            wrong = self._wrong_secrets.get(caller)
            if wrong is not None and wrong.full():
                return error_response(HTTPStatus.TOO_MANY_REQUESTS, "too many wrong secrets")
            given = request.headers.get("Authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {self._secret}".encode()):
                if wrong is None:
                    wrong = self._wrong_secrets[caller] = SlidingWindow(
                        MAX_WRONG_SECRETS, WRONG_SECRET_WINDOW
                    )
                wrong.admit()
                return error_response(HTTPStatus.UNAUTHORIZED, "missing or wrong secret")
        response: web.StreamResponse = await handler(request)
        return response

    async def _health(self, _: web.Request) -> web.Response:
        try:
            await self._pool.async_check_endpoint()
        except CdpError as err:
            return error_response(HTTPStatus.BAD_GATEWAY, str(err))
        isolation = self._pool.isolation
        return web.json_response(
            {
                "status": "ok",
                "chromium": self._pool.version,
                "sessions": len(self._sessions),
                # How its Chromium is kept apart (None before the first launch, or on a farm).
                "isolation": None if isolation is None else isolation.as_dict(),
                "capture": self._pool.capture_mode,
            }
        )

    async def _start(self, request: web.Request) -> web.Response:
        try:
            fields = await _session_fields(request)
        except RequestError as err:
            return error_response(err.status, str(err))
        async with self._lock:
            if len(self._sessions) + len(self._starting) >= MAX_SESSIONS:
                return error_response(HTTPStatus.TOO_MANY_REQUESTS, "too many sessions")
            token = fields.get("token")
            if token is not None and (
                self._registry.find(token) is not None or token in self._starting.values()
            ):
                return error_response(HTTPStatus.CONFLICT, "token in use")
            identity = (
                SessionIdentity(target="renderer", token=token)
                if token is not None
                else SessionIdentity(target="renderer")
            )
            self._starting[identity.session_id] = identity.token
        # The page loads outside the lock: one slow page never holds up another start.
        session = StreamSession(
            self._pool,
            self._ffmpeg_binary,
            StreamOptions.from_values(fields["url"], fields),
            identity,
            fields.get("hass_url", ""),
            fields.get("refresh_token"),
            on_failure=lambda error: self._failed(identity.session_id, error),
            temp_root=self._work_dir,
            registry=self._registry,
            allowed_origins=fields["allowed_origins"],
        )
        try:
            await session.start()
        except Exception as err:  # noqa: BLE001 - the page or a part did not start
            reason = text_for_logs(str(err), url_secrets(fields["url"]))
            _LOGGER.warning("Could not start rendering %s: %s", url_for_logs(fields["url"]), reason)
            return error_response(HTTPStatus.BAD_GATEWAY, f"could not start: {reason}")
        else:
            self._sessions[identity.session_id] = session
            self._asked[identity.session_id] = time.monotonic()
        finally:
            del self._starting[identity.session_id]
        return web.json_response(
            {"id": identity.session_id, "playlist": stream_path(identity.token)},
            status=HTTPStatus.CREATED,
        )

    def _failed(self, session_id: str, error: str) -> None:
        """The watchdog gave up: stop the pipeline, keep the reason until the session is deleted."""
        if (session := self._sessions.get(session_id)) is None:
            return
        self._failures[session_id] = error
        task = asyncio.get_running_loop().create_task(session.stop())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _asked_after(self, session_id: str) -> StreamSession | None:
        """The session, if it runs; its caller is still there."""
        if (session := self._sessions.get(session_id)) is not None:
            self._asked[session_id] = time.monotonic()
        return session

    async def _status(self, request: web.Request) -> web.Response:
        session_id = request.match_info["session_id"]
        if (session := self._asked_after(session_id)) is None:
            return error_response(HTTPStatus.NOT_FOUND, "no such session")
        stats, failure = session.stats, self._failures.get(session_id)
        playable = await session.is_playable()
        return web.json_response(
            {
                "id": session.session_id,
                "state": "failed" if failure else "running",
                "playable": playable,
                "restarts": stats.restarts,
                "last_error": failure or stats.last_error,
                "frames_in": stats.frames_in,
                "frames_out": stats.frames_out,
                "blocked_connections": stats.blocked_connections,
                "last_blocked": stats.last_blocked,
            }
        )

    async def _reload(self, request: web.Request) -> web.Response:
        if (session := self._asked_after(request.match_info["session_id"])) is None:
            return error_response(HTTPStatus.NOT_FOUND, "no such session")
        await session.reload()
        return web.Response(status=HTTPStatus.NO_CONTENT)

    async def _show(self, request: web.Request) -> web.Response:
        if (session := self._asked_after(request.match_info["session_id"])) is None:
            return error_response(HTTPStatus.NOT_FOUND, "no such session")
        try:
            body = await read_json_object(request, MAX_BODY_BYTES)
            url = SHOW_SCHEMA(body)["url"]
        except RequestError as err:
            return error_response(err.status, str(err))
        except probatio.Invalid as err:
            return error_response(HTTPStatus.BAD_REQUEST, f"invalid field: {err}")
        try:
            await session.show(url)
        except Exception as err:  # noqa: BLE001 - the page did not open; the watchdog retries
            reason = text_for_logs(str(err), url_secrets(url))
            _LOGGER.warning("Could not show %s: %s", url_for_logs(url), reason)
            return error_response(HTTPStatus.BAD_GATEWAY, f"could not show: {reason}")
        return web.Response(status=HTTPStatus.NO_CONTENT)

    async def _frame(self, request: web.Request) -> web.Response:
        if (session := self._asked_after(request.match_info["session_id"])) is None:
            return error_response(HTTPStatus.NOT_FOUND, "no such session")
        if (frame := session.latest_frame) is None:
            return web.Response(status=HTTPStatus.NO_CONTENT)
        return web.Response(
            body=frame, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    async def _stop(self, request: web.Request) -> web.Response:
        if not await self._end(request.match_info["session_id"]):
            return error_response(HTTPStatus.NOT_FOUND, "no such session")
        return web.Response(status=HTTPStatus.NO_CONTENT)

    async def _end(self, session_id: str) -> bool:
        """Stop a session: its stream URL dies before anything is torn down."""
        session = self._sessions.pop(session_id, None)
        self._failures.pop(session_id, None)
        self._asked.pop(session_id, None)
        if session is None:
            return False
        await session.stop()
        return True

    async def _stream(self, request: web.Request) -> web.Response:
        return readable_from_any_origin(
            await stream_file(
                self._registry,
                request.match_info["token"],
                request.match_info["filename"],
                request.query,
            )
        )

    async def _expire(self) -> None:
        """Stop the sessions nobody asked after within the session TTL."""
        while True:
            await asyncio.sleep(self._session_ttl / 4)
            now = time.monotonic()
            for session_id, asked in list(self._asked.items()):
                if now - asked > self._session_ttl:
                    _LOGGER.warning(
                        "Nobody asked after session %s for %.0f s: stopping it",
                        session_id,
                        now - asked,
                    )
                    await self._end(session_id)

    async def _startup(self, _: web.Application) -> None:
        await asyncio.to_thread(shutil.rmtree, self._work_dir, True)
        await asyncio.to_thread(self._work_dir.mkdir, parents=True)
        self._expiry = asyncio.get_running_loop().create_task(
            self._expire(), name="renderer session expiry"
        )

    async def _shutdown(self, _: web.Application) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for session_id in list(self._sessions):
            await self._end(session_id)
        await self._pool.async_close()
        await asyncio.to_thread(shutil.rmtree, self._work_dir, True)


async def _session_fields(request: web.Request) -> dict[str, Any]:
    """The validated fields of a start request."""
    body = await read_json_object(request, MAX_BODY_BYTES)
    try:
        fields: dict[str, Any] = SESSION_SCHEMA(body)
    except probatio.Invalid as err:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"invalid field: {err}") from None
    return fields
