"""The egress policy's decisions, and its SOCKS5 proxy spoken to as Chromium speaks it."""

from __future__ import annotations

import asyncio
import ipaddress
import struct

import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline.egress import (
    EgressPolicy,
    EgressProxy,
    EgressRefusedError,
    is_public,
    origin_endpoint,
)
from custom_components.dashboard_cast.dashboard_cast_pipeline.page import PageSpec

CLOSED = [
    "127.0.0.1",  # this machine
    "127.1.2.3",
    "0.0.0.0",  # noqa: S104 - reaches this machine too
    "10.0.0.1",  # the LAN
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # link-local: cloud metadata
    "100.64.0.1",  # shared address space (carrier NAT, Tailscale)
    "224.0.0.251",  # multicast
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",  # unique local
    "::ffff:127.0.0.1",  # IPv4-mapped: reaches 127.0.0.1
    "::ffff:192.168.1.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
OPEN = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "64:ff9b::5db8:d70e"]


@pytest.mark.parametrize("address", CLOSED)
def test_loopback_lan_and_link_local_are_closed(address: str) -> None:
    """Every address that is not on the public internet is closed by default."""
    assert not is_public(ipaddress.ip_address(address))
    with pytest.raises(EgressRefusedError):
        EgressPolicy().check_literal(address, 80)


@pytest.mark.parametrize("address", OPEN)
def test_public_addresses_are_open(address: str) -> None:
    """The public internet stays open (dashboards load cards and fonts from it)."""
    assert is_public(ipaddress.ip_address(address))
    EgressPolicy().check_literal(address, 443)


def test_an_allowed_origin_opens_exactly_its_host_and_port() -> None:
    """An allow-listed origin opens its own host and port, not the next port or host."""
    policy = EgressPolicy.allowing(["http://192.168.1.30:3000", "https://NAS.lan", "nonsense"])
    assert policy.allowed == {("192.168.1.30", 3000), ("nas.lan", 443)}
    loopback = ipaddress.ip_address("192.168.1.30")
    assert policy.allows("192.168.1.30", 3000, loopback)
    assert not policy.allows("192.168.1.30", 3001, loopback)
    assert not policy.allows("192.168.1.31", 3000, ipaddress.ip_address("192.168.1.31"))
    # A name the administrator allowed may resolve into the LAN; another name may not.
    lan = ipaddress.ip_address("192.168.1.40")
    assert policy.allows("nas.lan.", 443, lan)
    assert not policy.allows("printer.lan", 443, lan)
    # The allowed address reached under another name (or IPv4-mapped) is the same endpoint.
    assert policy.allows("grafana.lan", 3000, loopback)
    assert policy.allows("::ffff:192.168.1.30", 3000, ipaddress.ip_address("::ffff:192.168.1.30"))


def test_origin_endpoints_take_default_ports() -> None:
    """An origin without a port means 80 or 443; anything but http(s) is refused."""
    assert origin_endpoint("http://example.com") == ("example.com", 80)
    assert origin_endpoint("https://[::1]:8123") == ("::1", 8123)
    with pytest.raises(ValueError, match="origin"):
        origin_endpoint("file:///etc/passwd")


async def test_names_are_checked_on_every_address_they_resolve_to() -> None:
    """A name that resolves to loopback (localhost) is refused, unless its endpoint is allowed."""
    with pytest.raises(EgressRefusedError):
        await EgressPolicy().resolve("localhost", 8123)
    allowed = EgressPolicy.allowing(["http://localhost:8123"])
    addresses = await allowed.resolve("localhost", 8123)
    assert addresses
    assert all(address.is_loopback for address in addresses)


async def socks_connect(
    proxy: str, host: str, port: int
) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter]:
    """Greet a SOCKS5 proxy and CONNECT to host:port by name, as Chromium does; the reply code."""
    proxy_port = int(proxy.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
    writer.write(b"\x05\x01\x00")
    assert await reader.readexactly(2) == b"\x05\x00"
    name = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
    reply = await reader.readexactly(10)
    return reply[1], reader, writer


@pytest.mark.usefixtures("socket_enabled")
async def test_the_proxy_connects_where_allowed_and_refuses_the_rest() -> None:
    """A refused CONNECT never reaches the server; an allowed one carries bytes both ways."""
    arrivals: list[bytes] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        data = await reader.read(100)
        arrivals.append(data)
        writer.write(data.upper())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    refused: list[str] = []
    proxy = EgressProxy(EgressPolicy.allowing([f"http://127.0.0.1:{port}"]), refused.append)
    await proxy.start()
    try:
        code, reader, writer = await socks_connect(proxy.url, "127.0.0.1", port)
        assert code == 0
        writer.write(b"hello")
        assert await reader.read(100) == b"HELLO"
        writer.close()
        for host, other_port in (("127.0.0.2", port), ("127.0.0.1", port + 1)):
            code, _, writer = await socks_connect(proxy.url, host, other_port)
            assert code == 2  # connection not allowed by ruleset
            writer.close()
        assert arrivals == [b"hello"]
        assert refused == [f"127.0.0.2:{port}", f"127.0.0.1:{port + 1}"]
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    ("url", "hass_url", "trusted"),
    [
        # Home Assistant's own page on loopback: its certificate names another host.
        ("https://127.0.0.1:8123/lovelace/0", "https://127.0.0.1:8123", True),
        # Everything else is checked: Home Assistant elsewhere (a remote renderer), other sites.
        ("https://homeassistant.local:8123/lovelace/0", "https://homeassistant.local:8123", False),
        ("https://example.com/", "https://127.0.0.1:8123", False),
        ("https://example.com/", None, False),
        ("http://127.0.0.1:8123/lovelace/0", "http://127.0.0.1:8123", False),
    ],
)
def test_certificates_are_checked_except_home_assistants_own_on_loopback(
    url: str, hass_url: str | None, trusted: bool
) -> None:
    """Only Home Assistant's own https page on this machine skips the certificate check."""
    spec = PageSpec(url, 1280, 720, hass_url=hass_url, refresh_token="t" if hass_url else None)
    assert spec.trusts_any_certificate is trusted
