"""The upstream fault tests/upstream.py sets aside is real, and the filter is narrow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import os
from typing import Any

from aiohttp import ClientConnectionResetError
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http import WebSocketWriter, WSMsgType
import pytest

from .upstream import set_aside_shielded_send_failures


@pytest.fixture
async def reached() -> list[dict[str, Any]]:
    """What reaches the loop's exception handler (the test harness's, in a real test)."""
    found: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: found.append(context))
    return found


@pytest.fixture
async def closed_transport() -> AsyncGenerator[asyncio.WriteTransport]:
    """A real transport whose other end went away: a pipe, closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "wb") as pipe:
        transport, _ = await asyncio.get_running_loop().connect_write_pipe(asyncio.Protocol, pipe)
        transport.close()
        yield transport


async def test_aiohttps_shielded_send_fails_when_its_writer_is_cancelled(
    reached: list[dict[str, Any]], closed_transport: asyncio.WriteTransport
) -> None:
    """As Home Assistant's websocket writer, cancelled mid-send of a large compressed message.

    aiohttp (3.14.5, the newest) compresses it aside in asyncio.shield; the
    send goes on, finds the connection closed, and Python reports that to the
    loop. When this test fails, aiohttp fixed it: remove tests/upstream.py.
    """
    loop = asyncio.get_running_loop()
    set_aside = set_aside_shielded_send_failures(loop)
    writer = WebSocketWriter(BaseProtocol(loop), closed_transport, compress=15)  # type: ignore[arg-type]
    # Started at once, up to where it waits for the compressing aside, and
    # cancelled before the loop can see that finish. Random, so that compressing
    # takes milliseconds even with isal (Home Assistant's zlib): a compressing
    # done before the send waits for it lets the send finish at once.
    message = os.urandom(8 * 1024 * 1024)
    sending = asyncio.Task(writer.send_frame(message, WSMsgType.TEXT), loop=loop, eager_start=True)
    assert not sending.done(), "compressed before the send waited for it: use a larger message"
    sending.cancel()
    async with asyncio.timeout(10):
        while not set_aside:
            await asyncio.sleep(0.01)
    assert isinstance(set_aside[0]["exception"], ClientConnectionResetError)
    assert set_aside[0]["message"] == "ClientConnectionResetError exception in shielded future"
    assert reached == []


async def test_only_aiohttps_shielded_send_is_set_aside(reached: list[dict[str, Any]]) -> None:
    """The same error from another task, or another error, still reaches the handler."""
    loop = asyncio.get_running_loop()

    async def send() -> None:
        raise ClientConnectionResetError("Cannot write to closing transport")

    task = loop.create_task(send())
    await asyncio.wait([task])
    set_aside = set_aside_shielded_send_failures(loop)
    context = {"message": "exception in shielded future", "exception": task.exception()}
    loop.call_exception_handler({**context, "future": task})
    loop.call_exception_handler({"message": "other", "exception": ValueError("other")})
    assert [c["message"] for c in reached] == ["exception in shielded future", "other"]
    assert set_aside == []
