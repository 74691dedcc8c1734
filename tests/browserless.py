"""A browser service that behaves like browserless 2 where the renderer meets it.

What the renderer depends on, as browserless does it (src/limiter.ts,
src/shared/json-version.http.ts and its CDP routes):

- every route wants the token, ``?token=…``; a wrong or missing one gets 401;
- a websocket on ``/`` or ``/chromium`` starts a browser of its own for that
  connection and relays DevTools messages to it; the browser ends with it;
- a connection is a job with a timeout: the service's (browserless: TIMEOUT,
  30 s by default) unless the URL's ``timeout`` (ms) overrides it, and 0 means
  none; when it runs out, the connection is closed and the browser killed;
- ``/json/version`` answers the browser's version and a ``webSocketDebuggerUrl``
  *without* the token, which is why a client that follows it gets 401.

The browser is real: Debian's Chromium, one per connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import tempfile

from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, web

from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import (
    CHROMIUM_ARGS,
    find_chromium,
)

from .media import serve


class BrowserService:
    """Serve on host; count connections, timeouts and the queries clients sent."""

    def __init__(self, host: str, token: str, timeout_ms: int = 30_000) -> None:
        """A service whose jobs run out after timeout_ms unless a URL says otherwise."""
        self.host = host
        self.token = token
        self.timeout_ms = timeout_ms
        self.port = 0
        self.connections: list[dict[str, str]] = []  # the query of each websocket
        self.timeouts = 0
        self.refused = 0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def origin(self) -> str:
        """http://host:port."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Listen on a free port of host."""
        app = web.Application()
        app.router.add_get("/json/version", self._version)
        app.router.add_get("/", self._connect)
        app.router.add_get("/chromium", self._connect)
        self._runner, self.port = await serve(app, self.host, shutdown_timeout=1)

    async def stop(self) -> None:
        """Close every connection (and so every browser), then stop serving."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        if request.query.get("token") == self.token:
            return True
        self.refused += 1
        return False

    async def _version(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.Response(status=401, text="Bad or missing authentication.")
        return web.json_response(
            {
                "Browser": "HeadlessChrome/156.0.0.0",
                "Protocol-Version": "1.3",
                "webSocketDebuggerUrl": f"ws://{self.host}:{self.port}",
            }
        )

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.Response(status=401, text="Bad or missing authentication.")
        self.connections.append(dict(request.query))
        timeout_ms = int(request.query.get("timeout", self.timeout_ms))
        client = web.WebSocketResponse(max_msg_size=0)
        await client.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            async with (
                _browser() as endpoint,
                ClientSession() as http,
                http.ws_connect(endpoint, max_msg_size=0) as browser,
            ):
                relay = asyncio.gather(_pump(client, browser), _pump(browser, client))
                try:
                    async with asyncio.timeout(timeout_ms / 1000 if timeout_ms > 0 else None):
                        await relay
                except TimeoutError:
                    self.timeouts += 1  # the job ran out: close it, kill its browser
                finally:
                    relay.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await relay
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            await client.close()
        return client


Socket = web.WebSocketResponse | ClientWebSocketResponse


async def _pump(source: Socket, sink: Socket) -> None:
    """Relay messages one way until either side closes."""
    async for message in source:
        if message.type is WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type is WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        else:
            break


@contextlib.asynccontextmanager
async def _browser() -> AsyncIterator[str]:
    """A Chromium of its own; yields its DevTools websocket address, kills it after."""
    with tempfile.TemporaryDirectory(prefix="browser-service-") as profile:
        process = await asyncio.create_subprocess_exec(
            # Root runs the tests; a farm's browser runs in a container of its own.
            find_chromium() or "chromium", *CHROMIUM_ARGS, "--no-sandbox", "--headless",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            async with asyncio.timeout(30):
                while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
                    await asyncio.sleep(0.05)
            port, path = port_file.read_text().splitlines()[:2]
            yield f"ws://127.0.0.1:{port}{path}"
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()
