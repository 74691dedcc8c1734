"""Home Assistant running in a process of its own, reached over its REST API as a user.

scripts/bench and the test of scripts/develop drive real Home Assistant this way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


class RunningHomeAssistant:
    """A running `hass` reached over its REST API as the demo user."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, token: str, pid: int | None = None
    ) -> None:
        """Talk to Home Assistant at base; pid: its process, for a caller that measures it."""
        self.http = http
        self.base = base
        self.pid = pid
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON, fail on an error status, return the JSON answer."""
        async with self.http.post(self.base + path, json=body, headers=self.headers) as resp:
            if resp.status >= 400:
                raise RuntimeError(f"POST {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def state(self, entity_id: str) -> dict[str, Any] | None:
        """The entity's state, or None."""
        async with self.http.get(f"{self.base}/api/states/{entity_id}", headers=self.headers) as r:
            return await r.json() if r.status == 200 else None

    async def flow(self, handler: str, user_input: dict[str, Any]) -> dict[str, Any]:
        """Run a one-step config flow and return its result."""
        flow = await self.post("/api/config/config_entries/flow", {"handler": handler})
        result: dict[str, Any] = await self.post(
            f"/api/config/config_entries/flow/{flow['flow_id']}", user_input
        )
        return result

    async def wait_for_state(self, entity_id: str, states: set[str], limit: float = 60) -> None:
        """Poll until the entity is in one of the states."""
        async with asyncio.timeout(limit):
            while True:
                state = await self.state(entity_id)
                if state is not None and state["state"] in states:
                    return
                await asyncio.sleep(0.2)


async def listed_segments(http: aiohttp.ClientSession, master_url: str) -> int:
    """Segments the stream's media playlist lists now (0 while it is not there)."""
    async with http.get(master_url.replace("master.m3u8", "media.m3u8")) as resp:
        if resp.status != 200:
            return 0
        return (await resp.text()).count("#EXTINF")
