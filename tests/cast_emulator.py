"""A Chromecast test double that speaks the real Cast v2 protocol.

Home Assistant's cast integration and pychromecast drive it unchanged: device
info over HTTP on port 8008, then TLS on port 8009 carrying length-prefixed
CastMessage protobufs with JSON payloads. Port 8009 is fixed, so each emulated
device listens on a loopback address of its own (loopback.py).

On LOAD, the fast double fetches the URL it was given and answers PLAYING only
if that is a playable HLS master playlist; screen_colour() decodes the newest
segment. Given a playing receiver (tests/receiver.py), it plays the URL in
Shaka Player from another origin, as the Cast Web Receiver does, answers
PLAYING once frames are presented (IDLE with ERROR when the player fails), and
screen_colour() is the colour of the presented picture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import datetime
import json
import logging
import secrets
import ssl
import struct
import tempfile
from typing import Any
import uuid as uuid_lib

from aiohttp import ClientSession, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pychromecast.generated.cast_channel_pb2 import CastMessage

from .media import latest_colour
from .receiver import PlayingScreen, ShakaReceiver, wait_until_playing

_LOGGER = logging.getLogger(__name__)

NS_CONNECTION = "urn:x-cast:com.google.cast.tp.connection"
NS_HEARTBEAT = "urn:x-cast:com.google.cast.tp.heartbeat"
NS_RECEIVER = "urn:x-cast:com.google.cast.receiver"
NS_MEDIA = "urn:x-cast:com.google.cast.media"
DEFAULT_MEDIA_RECEIVER = "CC1AD845"
YOUTUBE = "233637DE"
PLATFORM = "receiver-0"
BROADCAST = "*"


def _tls_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate: pychromecast checks none."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cast-emulator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.NamedTemporaryFile() as cert_file, tempfile.NamedTemporaryFile() as key_file:
        cert_file.write(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        cert_file.flush()
        key_file.flush()
        context.load_cert_chain(cert_file.name, key_file.name)
    return context


class _Connection:
    """One sender's TLS connection."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        # Virtual connections: (sender id, our endpoint id).
        self.channels: set[tuple[str, str]] = set()

    def send(self, source: str, destination: str, namespace: str, payload: dict[str, Any]) -> None:
        message = CastMessage()
        message.protocol_version = CastMessage.CASTV2_1_0
        message.source_id = source
        message.destination_id = destination
        message.namespace = namespace
        message.payload_type = CastMessage.STRING
        message.payload_utf8 = json.dumps(payload)
        data = message.SerializeToString()
        if not self.writer.is_closing():
            self.writer.write(struct.pack(">I", len(data)) + data)


class CastDevice:
    """One emulated Chromecast with a screen."""

    def __init__(
        self,
        host: str,
        name: str,
        receiver: ShakaReceiver | None = None,
        model: str = "Chromecast",
    ) -> None:
        """Describe the device; start() makes it reachable.

        receiver: play each LOAD in a real player; set it any time before the LOAD.
        model: the model name it reports, as the cast integration reads it.
        """
        self.host = host
        self.model = model
        self.receiver = receiver
        self.screen: PlayingScreen | None = None  # the playing receiver's, while it plays
        self.name = name
        self.uuid = str(uuid_lib.uuid5(uuid_lib.NAMESPACE_DNS, f"{host}.cast-emulator"))
        self.app: dict[str, Any] | None = None
        self.media: dict[str, Any] | None = None
        self.player_state = "IDLE"
        self.loads: list[dict[str, Any]] = []  # every LOAD's media, in order
        self.stops = 0  # STOP requests from senders (quit app)
        self._media_session_id = 0
        self._connections: set[_Connection] = set()
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_change: Callable[[], None] | None = None
        # Receiver message types that drop the sender's connection, once each:
        # before the device acts on them, or after it acted, losing the answer.
        self.drop_connection_on: set[str] = set()
        self.lose_answer_to: set[str] = set()

    @property
    def loaded_url(self) -> str | None:
        """The URL the screen plays now."""
        if self.media is None or self.player_state not in ("PLAYING", "BUFFERING"):
            return None
        return str(self.media["contentId"])

    async def start(self) -> None:
        """Listen on port 8008 (device info) and 8009 (Cast v2 over TLS)."""
        app = web.Application()
        app.router.add_get("/setup/eureka_info", self._eureka_info)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 8008, reuse_address=True).start()
        self._servers.append(
            await asyncio.start_server(
                self._serve, self.host, 8009, ssl=_tls_context(), reuse_address=True
            )
        )

    async def stop(self) -> None:
        """Stop listening.

        Connections stay open until their sender closes them, as Home
        Assistant's cast integration does when Home Assistant stops: a device
        that vanished first would make it wait out a reconnect delay.
        """
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            server.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def screen_colour(self, *, centre: bool = False) -> tuple[int, int, int]:
        """The mean RGB colour of the picture on screen (centre: of its middle).

        With a playing receiver, the frame the player presents now; otherwise
        the last picture of the newest segment of the stream.
        """
        url = self.loaded_url
        assert url is not None, f"{self.name} shows no stream"
        if self.screen is not None:
            state = await self.screen.state()
            colour = state.centre if centre else state.colour
            assert colour is not None, f"{self.name} presented no frame"
            return colour
        assert not centre, "the middle of the picture needs a playing receiver"
        return await latest_colour(url)

    def take_over(self, app_id: str = YOUTUBE, name: str = "YouTube") -> None:
        """Another sender launches another app: the running one closes its transport."""
        self._close_app()
        self.app = self._new_app(app_id, name, namespaces=[])
        self._broadcast_receiver_status()

    def stop_app(self) -> None:
        """The user quits the app on the device (back to the idle screen)."""
        self._close_app()
        self._broadcast_receiver_status()

    # -- protocol ---------------------------------------------------------

    async def _eureka_info(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "name": self.name,
                "device_info": {
                    "ssdp_udn": self.uuid,
                    "model_name": self.model,
                    "manufacturer": "Google Inc.",
                    "multizone_supported": False,
                    "capabilities": {"display_supported": True, "multizone_supported": False},
                },
            }
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(writer)
        self._connections.add(connection)
        try:
            while True:
                header = await reader.readexactly(4)
                (length,) = struct.unpack(">I", header)
                message = CastMessage()
                message.ParseFromString(await reader.readexactly(length))
                self._handle(connection, message)
                await writer.drain()
        except asyncio.IncompleteReadError, ConnectionError, ssl.SSLError:
            pass
        finally:
            self._connections.discard(connection)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _handle(self, connection: _Connection, message: CastMessage) -> None:
        data = json.loads(message.payload_utf8 or "{}")
        kind = data.get("type")
        sender, endpoint = message.source_id, message.destination_id
        request_id = data.get("requestId", 0)
        if message.namespace == NS_CONNECTION:
            if kind == "CONNECT":
                connection.channels.add((sender, endpoint))
            elif kind == "CLOSE":
                connection.channels.discard((sender, endpoint))
        elif message.namespace == NS_HEARTBEAT:
            if kind == "PING":
                connection.send(endpoint, sender, NS_HEARTBEAT, {"type": "PONG"})
        elif message.namespace == NS_RECEIVER:
            self._handle_receiver(connection, sender, kind, data, request_id)
        elif message.namespace == NS_MEDIA:
            self._handle_media(connection, sender, endpoint, kind, data, request_id)

    def _handle_receiver(
        self,
        connection: _Connection,
        sender: str,
        kind: str | None,
        data: dict[str, Any],
        request_id: int,
    ) -> None:
        if kind in self.drop_connection_on:
            # The connection resets before the device answers, as when
            # pychromecast hits a socket error (home-assistant/core#141619).
            self.drop_connection_on.discard(kind)
            connection.writer.close()
            return
        if kind == "LAUNCH":
            if self.app is None or self.app["appId"] != data["appId"]:
                self._close_app()
                self.app = self._new_app(data["appId"], "Default Media Receiver", [NS_MEDIA])
        elif kind == "STOP":
            self.stops += 1
            self._close_app()
        elif kind == "GET_STATUS":
            connection.send(PLATFORM, sender, NS_RECEIVER, self._receiver_status(request_id))
            return
        else:
            return
        if kind in self.lose_answer_to:
            self.lose_answer_to.discard(kind)
            connection.writer.close()
        else:
            connection.send(PLATFORM, sender, NS_RECEIVER, self._receiver_status(request_id))
        self._broadcast_receiver_status()

    def _handle_media(
        self,
        connection: _Connection,
        sender: str,
        endpoint: str,
        kind: str | None,
        data: dict[str, Any],
        request_id: int,
    ) -> None:
        if self.app is None or endpoint != self.app["transportId"]:
            return
        if kind == "LOAD":
            self.loads.append(data["media"])
            task = asyncio.get_running_loop().create_task(
                self._load(connection, sender, data["media"], request_id)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if kind in ("STOP", "PAUSE", "PLAY"):
            self.player_state = {"STOP": "IDLE", "PAUSE": "PAUSED", "PLAY": "PLAYING"}[kind]
            if kind == "STOP":
                self._close_screen()
        connection.send(endpoint, sender, NS_MEDIA, self._media_status(request_id))

    async def _load(
        self, connection: _Connection, sender: str, media: dict[str, Any], request_id: int
    ) -> None:
        """Play the stream like a receiver would; PLAYING only if it plays."""
        assert self.app is not None
        transport = self.app["transportId"]
        self.media = media
        self._media_session_id += 1
        self.player_state = "BUFFERING"
        try:
            if self.receiver is not None:
                playable = await self._play(media)
            else:
                playable = await self._fetch(media)
        except Exception:
            _LOGGER.exception("%s could not play %s", self.name, media["contentId"])
            playable = False
        if self.media is not media:  # stopped or replaced meanwhile
            return
        self.player_state = "PLAYING" if playable else "IDLE"
        status = self._media_status(request_id)
        if not playable:
            status["status"][0]["idleReason"] = "ERROR"
        connection.send(transport, sender, NS_MEDIA, status)
        self._broadcast(transport, NS_MEDIA, self._media_status(0))
        if self.on_change is not None:
            self.on_change()

    async def _fetch(self, media: dict[str, Any]) -> bool:
        """The fast double: a master playlist that names its codecs counts as playable."""
        async with ClientSession() as http, http.get(media["contentId"]) as response:
            text = await response.text()
            return response.status == 200 and "CODECS=" in text

    async def _play(self, media: dict[str, Any]) -> bool:
        """The playing receiver: a fresh player page plays the media until it ends."""
        assert self.receiver is not None
        # A receiver has one player: the last media ends before the next loads.
        # (A new page opened while the last one closed could land in its
        # renderer as that shut down, which aborted the new page's load.)
        previous, self.screen = self.screen, None
        if previous is not None:
            await previous.close()
        self.screen = screen = await self.receiver.open()
        await screen.load(media["contentId"], media.get("hlsVideoSegmentFormat"))
        try:
            await wait_until_playing(screen)
        except (AssertionError, TimeoutError) as err:
            _LOGGER.warning(
                "%s: the player did not play %s: %s", self.name, media["contentId"], err
            )
            return False
        return True

    def _close_screen(self) -> None:
        screen, self.screen = self.screen, None
        if screen is not None:
            task = asyncio.get_running_loop().create_task(screen.close())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # -- state ------------------------------------------------------------

    def _new_app(self, app_id: str, name: str, namespaces: list[str]) -> dict[str, Any]:
        return {
            "appId": app_id,
            "displayName": name,
            "isIdleScreen": False,
            "namespaces": [{"name": namespace} for namespace in namespaces],
            "sessionId": str(uuid_lib.uuid4()),
            "statusText": name,
            "transportId": f"web-{secrets.token_hex(4)}",
        }

    def _close_app(self) -> None:
        """End the running app: its transport closes every virtual connection to it."""
        if self.app is None:
            return
        transport = self.app["transportId"]
        for connection in self._connections:
            for sender, endpoint in list(connection.channels):
                if endpoint == transport:
                    connection.send(transport, sender, NS_CONNECTION, {"type": "CLOSE"})
                    connection.channels.discard((sender, endpoint))
        self.app = None
        self.media = None
        self.player_state = "IDLE"
        self._close_screen()
        if self.on_change is not None:
            self.on_change()

    def _receiver_status(self, request_id: int) -> dict[str, Any]:
        return {
            "type": "RECEIVER_STATUS",
            "requestId": request_id,
            "status": {
                "applications": [self.app] if self.app is not None else [],
                "isActiveInput": True,
                "isStandBy": False,
                "volume": {"controlType": "attenuation", "level": 0.5, "muted": False},
            },
        }

    def _media_status(self, request_id: int) -> dict[str, Any]:
        status: dict[str, Any] = {
            "mediaSessionId": self._media_session_id,
            "playbackRate": 1,
            "playerState": self.player_state,
            "currentTime": 0,
            "supportedMediaCommands": 15,
            "volume": {"level": 1, "muted": False},
        }
        if self.media is not None:
            status["media"] = self.media
        return {"type": "MEDIA_STATUS", "requestId": request_id, "status": [status]}

    def _broadcast_receiver_status(self) -> None:
        self._broadcast(PLATFORM, NS_RECEIVER, self._receiver_status(0))

    def _broadcast(self, source: str, namespace: str, payload: dict[str, Any]) -> None:
        for connection in self._connections:
            connection.send(source, BROADCAST, namespace, payload)
