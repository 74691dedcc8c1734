"""A session rendered by the renderer service (server.py) instead of in Home Assistant.

The renderer serves the stream itself, under the token this side chose, so the
cast device pulls it from the renderer. A poll of the session's status stands
in for the local watchdog's report: a failed pipeline, or a renderer that lost
the session (it restarted) or stopped answering, ends the session as failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import replace
from http import HTTPStatus
import ipaddress
import json
import logging
import socket
from typing import Any

import aiohttp
import psutil
from yarl import URL

from .egress import IPAddress, reached_address
from .protocol import API_PREFIX
from .session import SessionIdentity, StreamOptions, session_logger
from .watchdog import PipelineStats

_LOGGER = logging.getLogger(__name__)

REQUEST_TIMEOUT = 30.0  # a start opens the page: allow for a slow one
STATUS_INTERVAL = 2.0
# The renderer may miss this many status polls in a row (a busy moment) before
# the session counts as lost.
MISSED_POLLS = 3


def _own_addresses() -> set[IPAddress]:
    """The addresses of this machine's network interfaces (blocking: use a thread)."""
    found: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.ip_address(address.address.split("%", 1)[0]))
    return found


async def is_this_machine(host: str) -> bool:
    """Tell whether every address of host is this machine's (loopback, or an interface's)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError, UnicodeError:
        return False
    own = await asyncio.to_thread(_own_addresses)
    addresses = {reached_address(ipaddress.ip_address(info[4][0])) for info in infos}
    return bool(addresses) and all(address.is_loopback or address in own for address in addresses)


class ApiError(Exception):
    """An HTTP API refused a request (status: its HTTP status) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Say why; status is None when no answer came."""
        super().__init__(message)
        self.status = status


class BearerClient:
    """A JSON API that takes a bearer token: the renderer's, or Supervisor's for the add-on."""

    error: type[ApiError] = ApiError  # what its failures raise

    def __init__(
        self, http: aiohttp.ClientSession, url: str, token: str, timeout: float = REQUEST_TIMEOUT
    ) -> None:
        """Call the API under url (its base, like http://host:8099/api/renderer)."""
        self.url = url.rstrip("/")
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout = timeout

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API; return its JSON answer (None when empty), raise error with its message."""
        answer, _ = await self.request(method, path, body)
        try:
            return json.loads(answer) if answer else None
        except ValueError as err:
            raise self.error("the answer is not JSON") from err

    async def request(self, method: str, path: str, body: Any = None) -> tuple[bytes, str]:
        """The answer's body and content type; error for an error status or no answer."""
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._http.request(
                    method, self.url + path, json=body, headers=self._headers
                ) as response,
            ):
                answer = await response.read()
                if response.status >= HTTPStatus.BAD_REQUEST:
                    raise self.error(
                        f"{response.status} {_message(answer) or response.reason}", response.status
                    )
                return answer, response.content_type
        except (aiohttp.ClientError, TimeoutError) as err:
            raise self.error(f"not reachable: {err or type(err).__name__}") from err


class RendererError(ApiError):
    """The renderer refused a request or could not be reached."""


class RendererClient(BearerClient):
    """The renderer service's API, with its secret."""

    error = RendererError

    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str) -> None:
        """Call the renderer at url (its base, like http://host:8099)."""
        super().__init__(http, url.rstrip("/") + API_PREFIX, secret)
        self.base = url.rstrip("/")

    async def image(self, path: str) -> bytes | None:
        """GET an image; None when the renderer has none (204)."""
        answer, content_type = await self.request("GET", path)
        return answer if answer and content_type.startswith("image/") else None

    async def may_carry_logins(self) -> bool:
        """Tell whether a login (a refresh token) may travel to this renderer.

        Over https (its certificate checked), or over http to this very machine;
        never as plain text across the network.
        """
        url = URL(self.base)
        return url.scheme == "https" or await is_this_machine(url.host or "")

    async def health(self) -> dict[str, Any]:
        """The renderer's health; raise RendererError if it is down or refuses the secret."""
        answer = await self.call("GET", "/health")
        if not isinstance(answer, dict):
            raise RendererError("not a Dashboard Cast renderer")
        return answer


def _message(answer: bytes) -> str | None:
    """The message of the renderer's JSON error answer, if it is one."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    return parsed.get("message") if isinstance(parsed, dict) else None


class RemoteSession:
    """A RenderSession rendered by a renderer service, which serves its stream too."""

    def __init__(
        self,
        client: RendererClient,
        options: StreamOptions,
        identity: SessionIdentity,
        page_url: str,
        hass_url: str | None,
        refresh_token: str | None,
        on_failure: Callable[[str], None] = lambda error: None,
        allowed_origins: Iterable[str] = (),
    ) -> None:
        """Initialize; call start(). allowed_origins: as StreamSession's, for the renderer."""
        self.options = options
        self.identity = identity
        self.token = identity.token
        self.session_id = identity.session_id
        self.stats = PipelineStats()
        self.log = session_logger(identity, options.dashboard)
        self._client = client
        self._page_url = page_url
        self._hass_url = hass_url
        self._refresh_token = refresh_token
        self._on_failure = on_failure
        self._allowed_origins = list(allowed_origins)
        self._remote_id: str | None = None
        self._playable = False
        self._poll: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Ask the renderer to render the page under our token."""
        body: dict[str, Any] = {
            "url": self._page_url,
            "token": self.token,
            "allowed_origins": self._allowed_origins,
            **self.options.values(),
        }
        if self._hass_url is not None and self._refresh_token is not None:
            body |= {"hass_url": self._hass_url, "refresh_token": self._refresh_token}
        answer = await self._client.call("POST", "/sessions", body)
        self._remote_id = str(answer["id"])
        self.log.debug("Rendering on %s as %s", self._client.base, self._remote_id)
        self._poll = asyncio.get_running_loop().create_task(
            self._follow(), name=f"dashboard_cast renderer status {self.session_id}"
        )

    async def wait_playable(self) -> None:
        """Wait until the renderer's playlist has enough segments."""
        while not self._playable:
            if self._poll is None or self._poll.done():
                raise RendererError(self.stats.last_error or "the renderer lost the session")
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """Stop following and ask the renderer to stop; it may be gone already."""
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        remote_id, self._remote_id = self._remote_id, None
        if remote_id is not None:
            try:
                await self._client.call("DELETE", f"/sessions/{remote_id}")
            except RendererError as err:
                self.log.debug("The renderer did not stop the session: %s", err)

    async def frame(self) -> bytes | None:
        """The renderer's latest frame of the page (JPEG), for the preview camera."""
        if self._remote_id is None:
            return None
        try:
            return await self._client.image(f"/sessions/{self._remote_id}/frame")
        except RendererError as err:
            self.log.debug("No frame from the renderer: %s", err)
            return None

    def ffmpeg_cpu_seconds(self) -> float:
        """Nothing here: FFmpeg runs on the renderer, which does not report its CPU."""
        return self.stats.ffmpeg_cpu_seconds

    async def reload(self) -> None:
        """Have the renderer load the page again (its dashboard's configuration changed)."""
        if self._remote_id is None:
            return
        try:
            await self._client.call("POST", f"/sessions/{self._remote_id}/reload")
        except RendererError as err:
            self.log.debug("The renderer did not reload the page: %s", err)

    async def show(self, dashboard: str) -> None:
        """Have the renderer show another page (a URL: the renderer knows no paths)."""
        if self._remote_id is None:
            return
        await self._client.call("POST", f"/sessions/{self._remote_id}/show", {"url": dashboard})
        self.options = replace(self.options, dashboard=dashboard)

    async def _follow(self) -> None:
        """Poll the status; report a failed or lost session once."""
        missed = 0
        while True:
            try:
                status = await self._client.call("GET", f"/sessions/{self._remote_id}")
            except RendererError as err:
                missed += 1
                if missed < MISSED_POLLS and err.status != HTTPStatus.NOT_FOUND:
                    await asyncio.sleep(STATUS_INTERVAL / 4)
                    continue
                self._fail(f"The renderer lost the session: {err}")
                return
            missed = 0
            self._playable = bool(status.get("playable"))
            self.stats.restarts = int(status.get("restarts") or 0)
            self.stats.frames_in = int(status.get("frames_in") or 0)
            self.stats.frames_out = int(status.get("frames_out") or 0)
            self.stats.last_error = status.get("last_error")
            self.stats.blocked_connections = int(status.get("blocked_connections") or 0)
            self.stats.last_blocked = status.get("last_blocked")
            if status.get("state") == "failed":
                self._fail(f"The renderer gave up: {self.stats.last_error}")
                return
            await asyncio.sleep(STATUS_INTERVAL if self._playable else 0.2)

    def _fail(self, error: str) -> None:
        self.stats.last_error = error
        self.log.warning("%s", error)
        self._on_failure(error)
