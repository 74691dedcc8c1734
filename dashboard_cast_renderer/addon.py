"""The Home Assistant add-on's entry point: python -m dashboard_cast_renderer.addon.

Supervisor runs it in the add-on image (addon/Dockerfile), on the host's network,
so Home Assistant and the cast devices reach it at the host's address. It reads
the user's options, keeps a generated secret in the add-on's data folder,
serves, and then announces address and secret to Home Assistant through
Supervisor discovery, which the integration's config flow takes up. It withdraws
the announcement when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import os
from pathlib import Path
import secrets
import signal
import socket
from typing import Any

import aiohttp
from aiohttp import web

from dashboard_cast_pipeline.browser import BrowserPool
from dashboard_cast_pipeline.client import ApiError, BearerClient
from dashboard_cast_pipeline.protocol import DISCOVERY_SERVICE
from dashboard_cast_pipeline.server import DEFAULT_WORK_DIR, RendererService

_LOGGER = logging.getLogger(__name__)

DATA_DIR = Path(os.environ.get("DASHBOARD_CAST_ADDON_DATA", "/data"))
# How add-ons reach the Supervisor (the same variables bashio reads).
SUPERVISOR_API = os.environ.get("SUPERVISOR_API", "http://supervisor")
DEFAULT_PORT = 8099


def load_options(data_dir: Path) -> dict[str, Any]:
    """The user's add-on options (Supervisor validated them against config.yaml)."""
    options: dict[str, Any] = json.loads((data_dir / "options.json").read_text())
    return options


def addon_secret(data_dir: Path, options: dict[str, Any]) -> str:
    """The secret the user set, or one generated once and kept in the data folder."""
    if chosen := options.get("secret"):
        return str(chosen)
    stored = data_dir / "secret"
    if stored.exists():
        return stored.read_text().strip()
    secret = secrets.token_urlsafe(32)
    stored.touch(mode=0o600)
    stored.write_text(secret)
    return secret


class Supervisor:
    """The few Supervisor API calls the add-on makes."""

    def __init__(self, http: aiohttp.ClientSession, token: str) -> None:
        """Call the Supervisor with the add-on's token."""
        self._api = BearerClient(http, SUPERVISOR_API, token, timeout=10)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        return (await self._api.call(method, path, body) or {}).get("data") or {}

    async def host_address(self) -> str | None:
        """The host's address on its primary network interface, as the cast devices see it."""
        info = await self._call("GET", "/network/info")
        for interface in info.get("interfaces", []):
            addresses = (interface.get("ipv4") or {}).get("address") or []
            if interface.get("primary") and addresses:
                return str(ipaddress.ip_interface(addresses[0]).ip)
        return None

    async def announce(self, config: dict[str, Any]) -> str:
        """Announce the renderer to Home Assistant; return the announcement's id."""
        answer = await self._call(
            "POST", "/discovery", {"service": DISCOVERY_SERVICE, "config": config}
        )
        return str(answer["uuid"])

    async def withdraw(self, uuid: str) -> None:
        """Take the announcement back."""
        await self._call("DELETE", f"/discovery/{uuid}")


def source_address() -> str:
    """The address this machine sends from towards the LAN (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))  # mDNS: the segment the cast devices are on
        address: str = probe.getsockname()[0]
        return address


async def lan_address(supervisor: Supervisor) -> str | None:
    """The host's address on the LAN: as the Supervisor says, else as routing says."""
    try:
        if host := await supervisor.host_address():
            return host
    except (ApiError, OSError, KeyError, ValueError) as err:
        _LOGGER.warning("The Supervisor did not say the host's address: %s", err)
    try:
        return source_address()
    except OSError:
        return None


async def run(data_dir: Path) -> None:
    """Serve until SIGTERM; announce while serving."""
    options = load_options(data_dir)
    port = int(options.get("port", DEFAULT_PORT))
    secret = addon_secret(data_dir, options)
    try:
        service = RendererService(
            secret,
            BrowserPool(
                None,
                cdp_url=options.get("cdp_url") or None,
                temp_dir=DEFAULT_WORK_DIR / "browser",
            ),
            "ffmpeg",
            DEFAULT_WORK_DIR,
        )
    except ValueError as err:  # a secret option that is too short
        raise SystemExit(f"The secret option: {err}") from err
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(stop_signal, stopping.set)
    async with aiohttp.ClientSession() as http:
        supervisor = Supervisor(http, os.environ.get("SUPERVISOR_TOKEN", ""))
        host = await lan_address(supervisor)
        # The address Home Assistant and the cast devices use (and this machine's
        # loopback), no other: not the containers' networks, nor a VPN's.
        for address in dict.fromkeys(["127.0.0.1", *([host] if host else [])]):
            await web.TCPSite(runner, address, port).start()
            _LOGGER.info("Renderer listening on %s:%s", address, port)
        uuid: str | None = None
        try:
            if host is not None:
                uuid = await supervisor.announce({"host": host, "port": port, "secret": secret})
                _LOGGER.info("Announced to Home Assistant at %s:%s", host, port)
        except (ApiError, OSError, KeyError, ValueError) as err:
            # Setting the renderer up by hand still works (address, and the secret option).
            _LOGGER.warning("Could not announce the renderer to Home Assistant: %s", err)
        await stopping.wait()
        if uuid is not None:
            with contextlib.suppress(ApiError):
                await supervisor.withdraw(uuid)
    await runner.cleanup()


def main() -> None:
    """Run the add-on."""
    options = load_options(DATA_DIR)
    logging.basicConfig(
        level=str(options.get("log_level", "info")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    asyncio.run(run(DATA_DIR))


if __name__ == "__main__":
    main()
