"""Faults of Home Assistant's own stack that a test must not blame on the integration.

Each is reproduced in tests/test_upstream.py, so that it is known to be real
and to be still there: once upstream fixes it, that test fails and its filter
here can go.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientConnectionResetError

# aiohttp's send of one large compressed websocket message, run as a task of
# its own in asyncio.shield.
SHIELDED_SEND = "WebSocketWriter._send_compressed_frame_async_locked"


def is_shielded_send_failure(context: dict[str, Any]) -> bool:
    """Tell whether a loop exception is aiohttp's shielded websocket send failing.

    Home Assistant's websocket writer sends a large message through aiohttp
    (3.14.5, the newest), which compresses it in the executor inside
    asyncio.shield. When the client closes the websocket meanwhile (a page
    closed or reloaded), aiohttp closes the connection, Home Assistant cancels
    the writer, and the send goes on alone to a closed transport. Python 3.14's
    shield reports its ClientConnectionResetError to the loop: Home Assistant
    logs "Error doing job: ClientConnectionResetError exception in shielded
    future". Any browser tab closing at that moment does the same. Seen when a
    stream stopped while its reloaded frontend was still loading.
    """
    future = context.get("future")
    coro = future.get_coro() if isinstance(future, asyncio.Task) else None
    return isinstance(context.get("exception"), ClientConnectionResetError) and (
        getattr(coro, "__qualname__", None) == SHIELDED_SEND
    )


def set_aside_shielded_send_failures(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """From now on, keep those failures from the loop's exception handler; return them.

    The test harness's handler fails the test on any loop exception: every other
    one still reaches it.
    """
    report = loop.get_exception_handler()
    set_aside: list[dict[str, Any]] = []

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_shielded_send_failure(context):
            set_aside.append(context)
        elif report is not None:
            report(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handle)
    return set_aside
