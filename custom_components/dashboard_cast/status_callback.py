"""Signed status callbacks: tell a system outside Home Assistant how its cast went.

A start (usually through the webhook) may name a callback_url. When the
session starts playing, ends or fails, the integration POSTs a JSON status
there, signed with the entry's secret so the receiver can trust it:

    X-Dashboard-Cast-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">

A failed delivery is retried 3 times (after 2, 4 and 8 s), then counted;
it never holds up the session.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import aiohttp
from yarl import URL

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.aiohttp_client import SERVER_SOFTWARE

from .clock import async_wait
from .const import CONF_CALLBACK_SECRET, DOMAIN
from .dashboard_cast_pipeline.egress import EgressPolicy, EgressRefusedError, PolicyResolver
from .dashboard_cast_pipeline.redact import url_for_logs
from .url_policy import egress_policy

_LOGGER = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Dashboard-Cast-Signature"
RETRY_DELAYS = (2.0, 4.0, 8.0)
REQUEST_TIMEOUT = 10.0


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at timestamp."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class StatusCallbacks:
    """Deliveries of one entry, and what became of them."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
        """Sign with the entry's secret."""
        self._hass = hass
        self._entry = entry
        self.delivered = 0
        self.failed = 0
        self.last_error: str | None = None

    @callback
    def async_send(self, url: str, status: dict[str, Any]) -> asyncio.Task[None]:
        """Deliver in the background; the session never waits for it."""
        return self._entry.async_create_background_task(
            self._hass, self._deliver(url, status), f"{DOMAIN} status callback"
        )

    async def _deliver(self, url: str, status: dict[str, Any]) -> None:
        # A session of its own whose lookups keep to the policy: a name that
        # resolves into the LAN (now, or on a retry) is never connected to.
        policy = egress_policy(self._entry)
        connector = aiohttp.TCPConnector(resolver=PolicyResolver(policy))
        async with aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": SERVER_SOFTWARE}
        ) as http:
            await self._deliver_with(http, policy, url, status)

    async def _deliver_with(
        self,
        http: aiohttp.ClientSession,
        policy: EgressPolicy,
        url: str,
        status: dict[str, Any],
    ) -> None:
        body = json.dumps(status).encode()
        secret: str = self._entry.data[CONF_CALLBACK_SECRET]
        error = ""
        parsed = URL(url)
        for delay in (0.0, *RETRY_DELAYS):
            await async_wait(self._hass, delay)
            timestamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(secret, timestamp, body),
            }
            try:
                policy.check_literal(parsed.host or "", parsed.port or 0)
                async with (
                    asyncio.timeout(REQUEST_TIMEOUT),
                    http.post(url, data=body, headers=headers, allow_redirects=False) as response,
                ):
                    if response.status < 300:
                        self.delivered += 1
                        return
                    error = f"HTTP {response.status}"
            except EgressRefusedError as err:
                error = str(err)
                break  # a literal address will not change on a retry
            except aiohttp.ClientConnectorError as err:
                # aiohttp wraps what the policy's resolver refused.
                error = (
                    str(err.os_error) if isinstance(err.os_error, EgressRefusedError) else str(err)
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as err:
                error = str(err) or type(err).__name__
        self.failed += 1
        self.last_error = error
        _LOGGER.warning(
            "Could not deliver the %s status to %s: %s",
            status.get("event"),
            url_for_logs(url),
            error,
        )
