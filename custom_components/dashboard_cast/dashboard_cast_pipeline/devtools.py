"""Chromium's DevTools pipe, held by us: our frames directly, the rest relayed to Playwright.

Every frame of a page that moves is five DevTools messages (the render, its
answer, the picture, its acknowledgement and that one's answer). Through
Playwright each of them crosses its driver (node) and Playwright's own Python
layer: about as much CPU as encoding the frame. Chromium has one DevTools pipe
(--remote-debugging-pipe, file descriptors 3 and 4), so we hold it:

- Our sessions (a browser session of our own, and the page sessions it
  attaches) are answered here, without leaving this process.
- Everything else goes to Playwright and back, unchanged. Playwright connects
  over a WebSocket on 127.0.0.1 that only it can use: the path holds a secret,
  a browser's request (it carries an Origin) is refused, exactly one
  connection is taken, and the port stops listening once it is.

Message ids need no rewriting: ours are sent on our own sessions (Chromium
keeps a session's ids apart), and our one sessionless call is made before
Playwright connects.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import hmac
import json
import logging
import os
import secrets
from typing import Any, Protocol, override

from aiohttp import WSMsgType, web

_LOGGER = logging.getLogger(__name__)

MESSAGE_END = b"\0"
# Where Playwright finds the browser; the last part is the secret.
RELAY_PATH = "/devtools/browser/"
# How long the port waits for Playwright's connection.
RELAY_ACCEPT_SECONDS = 30.0
type EventHandler = Callable[[dict[str, Any]], None]


class CdpSession(Protocol):
    """A DevTools session: ours (DevToolsSession) or Playwright's CDPSession."""

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call a method; return its result."""

    def on(self, event: str, handler: EventHandler) -> None:
        """Call handler(params) for each event of that name."""

    async def detach(self) -> None:
        """End the session."""


class DevToolsError(Exception):
    """A DevTools call failed, or the connection is gone."""


class DevToolsSession:
    """One of our DevTools sessions: the browser's, or a page's."""

    def __init__(self, pipe: DevToolsPipe, session_id: str) -> None:
        """Initialize; DevToolsPipe makes these."""
        self._pipe = pipe
        self.session_id = session_id
        self._handlers: dict[str, list[EventHandler]] = {}
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.detached = False

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call method in this session; raise DevToolsError with Chromium's answer if it fails."""
        if self.detached:
            raise DevToolsError(f"{method}: the session is closed")
        self._next_id += 1
        self._pipe.write(
            {
                "id": self._next_id,
                "method": method,
                "params": params or {},
                "sessionId": self.session_id,
            }
        )
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        return await future

    def on(self, event: str, handler: EventHandler) -> None:
        """Call handler(params) for each of this session's events named event."""
        self._handlers.setdefault(event, []).append(handler)

    async def detach(self) -> None:
        """End this session (the page stays)."""
        if not self.detached:
            await self._pipe.detach(self)

    def _receive(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.pop(message["id"], None)
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(DevToolsError(str(message["error"].get("message"))))
            else:
                future.set_result(message.get("result", {}))
            return
        for handler in self._handlers.get(message.get("method", ""), ()):
            try:
                handler(message.get("params", {}))
            except Exception:
                _LOGGER.exception("A DevTools event handler failed")

    def _close(self) -> None:
        self.detached = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(DevToolsError("the session is closed"))
        self._pending.clear()


class DevToolsPipe:
    """Our end of Chromium's DevTools pipe, and Playwright's relay."""

    def __init__(self) -> None:
        """Initialize; open() connects."""
        self._writer: asyncio.WriteTransport | None = None
        self._sessions: dict[str, DevToolsSession] = {}
        self._session_marks: tuple[bytes, ...] = ()
        self._sessionless: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._root: DevToolsSession | None = None
        self._relay: web.WebSocketResponse | None = None
        self._relay_gone = False  # Playwright disconnected: its messages are dropped
        self._stop_listening: asyncio.TimerHandle | None = None
        self._to_relay: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._relay_runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = asyncio.Event()

    async def open(self, read_fd: int, write_fd: int) -> str:
        """Talk to Chromium on these file descriptors (taken over); return its version string.

        Also opens our browser session. Raises DevToolsError when the pipe closes first.
        """
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: _PipeReader(self), os.fdopen(read_fd, "rb", 0))
        self._writer, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(write_fd, "wb", 0)
        )
        version = await self._call("Browser.getVersion")
        attached = await self._call("Target.attachToBrowserTarget")
        self._root = self._add_session(attached["sessionId"])
        self._root.on("Target.detachedFromTarget", self._on_detached)
        return str(version.get("product", ""))

    async def attach(self, target_id: str) -> DevToolsSession:
        """Open a session of ours to a target (a page's id: Target.getTargetInfo)."""
        if self._root is None:
            raise DevToolsError("not connected")
        attached = await self._root.send(
            "Target.attachToTarget", {"targetId": target_id, "flatten": True}
        )
        return self._add_session(attached["sessionId"])

    async def detach(self, session: DevToolsSession) -> None:
        """End one of our page sessions."""
        if self._root is None or session.detached:
            return
        self._remove_session(session.session_id)
        with contextlib.suppress(DevToolsError):  # already gone with its page
            await self._root.send("Target.detachFromTarget", {"sessionId": session.session_id})

    async def browser_call(
        self, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Call a browser-wide method on our browser session (Browser.close, say)."""
        if self._root is None:
            raise DevToolsError("not connected")
        return await self._root.send(method, params)

    async def serve_playwright(self) -> str:
        """Listen for Playwright on 127.0.0.1; return the address it connects to."""
        secret = secrets.token_urlsafe(32)
        app = web.Application()
        accepted = False

        async def accept(request: web.Request) -> web.StreamResponse:
            nonlocal accepted
            if (
                accepted
                or "Origin" in request.headers  # a browser's page, not Playwright
                or not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode())
            ):
                raise web.HTTPNotFound
            accepted = True
            if self._stop_listening is not None:
                self._stop_listening.cancel()
            await site.stop()  # nobody else connects, right or wrong
            relay = web.WebSocketResponse(max_msg_size=0, autoping=True)
            await relay.prepare(request)
            await self._relay_messages(relay)
            return relay

        app.router.add_get(RELAY_PATH + "{secret}", accept)
        self._relay_runner = runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._stop_listening = asyncio.get_running_loop().call_later(
            RELAY_ACCEPT_SECONDS, lambda: self._spawn(site.stop())
        )
        return f"ws://{host}:{port}{RELAY_PATH}{secret}"

    async def close(self) -> None:
        """Close the pipe and Playwright's relay (Chromium, losing its pipe, exits)."""
        self._on_pipe_closed()
        if self._stop_listening is not None:
            self._stop_listening.cancel()
        if self._relay_runner is not None:
            await self._relay_runner.cleanup()
            self._relay_runner = None
        for task in list(self._tasks):
            task.cancel()

    def write(self, message: dict[str, Any]) -> None:
        """Send a message to Chromium."""
        if self._writer is None or self._writer.is_closing():
            raise DevToolsError("Chromium's pipe is closed")
        self._writer.write(json.dumps(message, separators=(",", ":")).encode() + MESSAGE_END)

    async def _call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A sessionless call: only before Playwright connects, whose ids these are after."""
        assert self._relay is None
        self._next_id += 1
        self.write({"id": self._next_id, "method": method, "params": params or {}})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._sessionless[self._next_id] = future
        return await future

    def _add_session(self, session_id: str) -> DevToolsSession:
        session = self._sessions[session_id] = DevToolsSession(self, session_id)
        self._session_marks = tuple(key.encode() for key in self._sessions)
        return session

    def _remove_session(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session._close()  # noqa: SLF001 - the pipe owns its sessions
            self._session_marks = tuple(key.encode() for key in self._sessions)

    def _on_detached(self, params: dict[str, Any]) -> None:
        """A page of ours closed (its context or the page went away)."""
        self._remove_session(str(params.get("sessionId")))

    def received(self, raw: bytes) -> None:
        """One message from Chromium: ours, or Playwright's."""
        # Only a message that names one of our sessions is read here; the rest
        # (a page's network events, say) pass to Playwright as they are.
        if any(mark in raw for mark in self._session_marks) or self._relay is None:
            message = json.loads(raw)
            session = self._sessions.get(message.get("sessionId", ""))
            if session is not None:
                session._receive(message)  # noqa: SLF001 - the pipe routes to its sessions
                return
            if self._relay is None:
                future = self._sessionless.pop(message.get("id", 0), None)
                if future is not None and not future.done():
                    if "error" in message:
                        future.set_exception(DevToolsError(str(message["error"])))
                    else:
                        future.set_result(message.get("result", {}))
                return  # Playwright is not there yet: nothing it asked for
        if not self._relay_gone:
            self._to_relay.put_nowait(raw)

    async def _relay_messages(self, relay: web.WebSocketResponse) -> None:
        """Pass Playwright's messages to Chromium and Chromium's to Playwright, in order."""
        self._relay = relay

        async def to_playwright() -> None:
            with contextlib.suppress(ConnectionError):  # Playwright left
                while (raw := await self._to_relay.get()) is not None:
                    await relay.send_str(raw.decode())
                await relay.close()

        sender = asyncio.get_running_loop().create_task(to_playwright())
        try:
            async for message in relay:
                if message.type is not WSMsgType.TEXT or self._writer is None:
                    break
                if self._writer.is_closing():
                    break
                self._writer.write(message.data.encode() + MESSAGE_END)
        finally:
            self._relay_gone = True
            sender.cancel()
            _LOGGER.debug("Playwright left Chromium's DevTools relay")

    def _on_pipe_closed(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self._writer is not None:
            self._writer.close()
        for session_id in list(self._sessions):
            self._remove_session(session_id)
        self._root = None
        for future in self._sessionless.values():
            if not future.done():
                future.set_exception(DevToolsError("Chromium's pipe closed"))
        self._sessionless.clear()
        self._to_relay.put_nowait(None)  # Playwright sees the browser go

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _PipeReader(asyncio.Protocol):
    """Splits what Chromium writes into messages (each ends with a NUL byte)."""

    def __init__(self, pipe: DevToolsPipe) -> None:
        self._pipe = pipe
        self._buffer = bytearray()

    @override
    def data_received(self, data: bytes) -> None:
        self._buffer += data
        start = 0
        while (end := self._buffer.find(MESSAGE_END, start)) >= 0:
            self._pipe.received(bytes(self._buffer[start:end]))
            start = end + 1
        del self._buffer[:start]

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._on_pipe_closed()  # noqa: SLF001 - its own reader
