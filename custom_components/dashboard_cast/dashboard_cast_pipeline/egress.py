"""Where a page may connect: a policy, and the SOCKS5 proxy that enforces it.

A page is hostile until proven otherwise: it may fetch, redirect, open
websockets or load images anywhere. Each session's browser context sends all
its traffic (navigations, redirects, subresources, websockets) through a proxy
of its own on loopback. The proxy resolves the name itself and connects only to
addresses the policy allows, to the very address it checked (no second lookup a
DNS-rebinding page could answer differently).

The policy: public addresses are open; loopback, private, link-local, shared,
reserved and other non-global addresses are closed, except the endpoints named
(Home Assistant's own for its dashboards, origins an administrator allowed).

Written here rather than taken from a proxy package: only SOCKS5 CONNECT
without authentication is needed (RFC 1928, a few dozen lines), and the check
must sit between the lookup and the connect, where proxy packages offer no hook.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
import contextlib
from dataclasses import dataclass
import ipaddress
import logging
import socket
from typing import override

from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

_LOGGER = logging.getLogger(__name__)

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Allowed origins one policy takes: the renderer API refuses more, the options form too.
MAX_ALLOWED_ORIGINS = 50
CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 10.0
CHUNK = 65536
# NAT64 (RFC 6052): an IPv4 address inside an IPv6 one, reached through a gateway.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# SOCKS5 (RFC 1928)
_VERSION = 5
_NO_AUTH, _NO_METHOD = 0, 0xFF
_CONNECT = 1
_IPV4, _DOMAIN, _IPV6 = 1, 3, 4
_SUCCEEDED, _FAILURE, _NOT_ALLOWED, _UNSUPPORTED_COMMAND, _UNSUPPORTED_ADDRESS = 0, 1, 2, 7, 8


class EgressRefusedError(OSError):
    """The policy does not allow a connection there (an OSError, as a failed lookup is)."""


def _address(text: str) -> IPAddress | None:
    with contextlib.suppress(ValueError):
        return ipaddress.ip_address(text.strip("[]"))
    return None


def reached_address(address: IPAddress) -> IPAddress:
    """The address a connection really reaches: IPv4 inside IPv4-mapped or NAT64 IPv6."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def is_public(address: IPAddress) -> bool:
    """Tell whether an address is on the public internet (not this host, not the LAN)."""
    reached = reached_address(address)
    return reached.is_global and not reached.is_multicast


def _host_key(host: str) -> str:
    """A host as compared: lower case, no brackets or trailing dot, addresses canonical."""
    if (address := _address(host)) is not None:
        return str(reached_address(address))
    return host.lower().rstrip(".")


def origin_endpoint(origin: str) -> tuple[str, int]:
    """(host, port) of an http(s) origin; raise ValueError for anything else."""
    url = URL(origin)
    if url.scheme not in ("http", "https") or not url.host or url.port is None:
        raise ValueError(f"not an http(s) origin: {origin!r}")
    return _host_key(url.host), url.port


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Public addresses, and these endpoints (host, port) wherever they are."""

    allowed: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def allowing(cls, origins: Iterable[str]) -> EgressPolicy:
        """A policy that also opens these http(s) origins (invalid ones are skipped)."""
        endpoints = set()
        for origin in origins:
            with contextlib.suppress(ValueError):
                endpoints.add(origin_endpoint(origin))
        return cls(frozenset(endpoints))

    def allows(self, host: str, port: int, address: IPAddress) -> bool:
        """Tell whether a connection to host:port, resolved to address, may go ahead."""
        if is_public(address):
            return True
        named, reached = (_host_key(host), port), (str(reached_address(address)), port)
        return named in self.allowed or reached in self.allowed

    def check_literal(self, host: str, port: int) -> None:
        """Raise EgressRefusedError if host is an address the policy closes (names pass)."""
        if (literal := _address(host)) is not None and not self.allows(host, port, literal):
            raise EgressRefusedError(f"{host}:{port} is not a public address")

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for host:port; raise EgressRefusedError if none may.

        All of a name's addresses must pass: a name that also points into the LAN
        is refused whole, whatever order a resolver answers in.
        """
        if (literal := _address(host)) is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except (OSError, UnicodeError) as err:
                raise EgressRefusedError(f"{host} does not resolve") from err
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses or not all(self.allows(host, port, address) for address in addresses):
            raise EgressRefusedError(f"{host}:{port} is not a public address")
        return addresses


class PolicyResolver(AbstractResolver):
    """aiohttp's name lookup under a policy: it connects only to the addresses checked.

    aiohttp does not look up literal addresses: check those with check_literal.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        """Resolve under policy."""
        self._policy = policy

    @override
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in await self._policy.resolve(host, port)
        ]

    @override
    async def close(self) -> None:
        """Nothing to release."""


class EgressProxy:
    """A SOCKS5 proxy on loopback that connects only where its policy allows."""

    def __init__(
        self,
        policy: EgressPolicy,
        on_refused: Callable[[str], None] = lambda target: None,
    ) -> None:
        """Enforce policy; start() before use, close() after.

        on_refused(host:port): a connection was refused (the page's own doing).
        """
        self.policy = policy
        self._on_refused = on_refused
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """The proxy server as Chromium takes it (socks5: names are resolved here)."""
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"socks5://127.0.0.1:{port}"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening and cut every connection it carries."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections)
        if server is not None:
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        except OSError, asyncio.IncompleteReadError, TimeoutError:
            pass  # a client or server that went away
        finally:
            self._connections.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            host, port = await _handshake(reader, writer)
            if host is None:
                return
            try:
                addresses = await self.policy.resolve(host, port)
            except EgressRefusedError as err:
                _LOGGER.debug("Blocked a connection of a page: %s", err)
                self._on_refused(f"{host}:{port}")
                await _reply(writer, _NOT_ALLOWED)
                return
            upstream = await _connect(addresses, port)
            if upstream is None:
                await _reply(writer, _FAILURE)
                return
        up_reader, up_writer = upstream
        try:
            await _reply(writer, _SUCCEEDED)
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()


async def _handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> tuple[str | None, int]:
    """Read the greeting and the CONNECT request: (host, port), or (None, 0) after refusing."""
    version, count = await reader.readexactly(2)
    methods = await reader.readexactly(count)
    if version != _VERSION or _NO_AUTH not in methods:
        writer.write(bytes((_VERSION, _NO_METHOD)))
        await writer.drain()
        return None, 0
    writer.write(bytes((_VERSION, _NO_AUTH)))
    version, command, _, kind = await reader.readexactly(4)
    if kind == _IPV4:
        host = str(ipaddress.IPv4Address(await reader.readexactly(4)))
    elif kind == _IPV6:
        host = str(ipaddress.IPv6Address(await reader.readexactly(16)))
    elif kind == _DOMAIN:
        (length,) = await reader.readexactly(1)
        host = (await reader.readexactly(length)).decode("ascii", "replace")
    else:
        await _reply(writer, _UNSUPPORTED_ADDRESS)
        return None, 0
    port = int.from_bytes(await reader.readexactly(2), "big")
    if version != _VERSION or command != _CONNECT:
        await _reply(writer, _UNSUPPORTED_COMMAND)
        return None, 0
    return host, port


async def _reply(writer: asyncio.StreamWriter, code: int) -> None:
    writer.write(bytes((_VERSION, code, 0, _IPV4, 0, 0, 0, 0, 0, 0)))
    await writer.drain()


async def _connect(
    addresses: list[IPAddress], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """Connect to the first of the checked addresses that answers."""
    for address in addresses:
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(CONNECT_TIMEOUT):
                return await asyncio.open_connection(str(address), port)
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the end; then half-close, as the other side may still answer."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
