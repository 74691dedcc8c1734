"""A hostile page in the real browser: what it tries to reach on loopback and the LAN, it does not.

Loopback stands in for the LAN and this machine here (the only network tests
may use): the page's own origin and a partner are allow-listed, every other
loopback address is as closed as a router or 169.254.169.254 would be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
import json
from typing import Any

from aiohttp import web
import pytest

from ..media import serve
from .test_renderer_service import Renderer, renderer  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("socket_enabled")

SITE_HOST = "127.0.0.5"  # the page's origin: allow-listed
LAN_HOST = "127.0.0.6"  # the "LAN": never allowed
PARTNER_HOST = "127.0.0.7"  # another allow-listed origin: the control

HOSTILE_PAGE = """<!doctype html><html><body><script>
const lan = "http://%(lan)s:%(lan_port)s", local = %(local_port)s;
const wait = (ms) => new Promise((done) => setTimeout(done, ms));
const settle = (promise) => Promise.race([promise.then(() => "reached", () => "failed"),
                                          wait(5000).then(() => "timeout")]);
const loaded = (element) => new Promise((done, fail) => {
  element.onload = done; element.onerror = fail; document.body.append(element);
});
const frame = (src) => { const f = document.createElement("iframe"); f.src = src; return f; };
const image = (src) => { const i = new Image(); i.src = src; return i; };
const socket = (url) => new Promise((done, fail) => {
  const ws = new WebSocket(url); ws.onopen = done; ws.onerror = fail;
});
async function webrtc() {
  const pc = new RTCPeerConnection({iceServers: [{urls: "stun:%(lan)s:%(udp_port)s"}]});
  pc.createDataChannel("probe");
  await pc.setLocalDescription(await pc.createOffer());
  await wait(3000);
  pc.close();
}
const probes = {
  fetch_lan: () => fetch(lan + "/fetch", {mode: "no-cors"}),
  image_lan: () => loaded(image(lan + "/image")),
  redirect_to_lan: () => fetch("/redirect", {mode: "no-cors"}),
  frame_redirect_to_lan: () => loaded(frame("/redirect?frame")),
  localhost: () => fetch(`http://localhost:${local}/localhost`, {mode: "no-cors"}),
  decimal_address: () => fetch(`http://2130706433:${local}/decimal`, {mode: "no-cors"}),
  ipv4_mapped: () => fetch("http://[::ffff:%(lan)s]:%(lan_port)s/mapped", {mode: "no-cors"}),
  websocket_lan: () => socket("ws://%(lan)s:%(lan_port)s/ws"),
  file_fetch: () => fetch("file:///etc/passwd"),
  file_frame: () => loaded(frame("file:///etc/passwd")),
  webrtc_stun: webrtc,
  partner: () => fetch("http://%(partner)s:%(partner_port)s/hello", {mode: "no-cors"}),
};
(async () => {
  const results = {};
  for (const [name, probe] of Object.entries(probes)) results[name] = await settle(probe());
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
  location.href = lan + "/navigate";  // and last, away from the page itself
})();
</script></body></html>"""


@dataclass
class Listener:
    """An HTTP server that records every request it gets (any path, websockets too)."""

    host: str
    hits: list[str] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Serve on a free port of host."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._hit)
        self._runner, self.port = await serve(app, self.host)

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hit(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            socket = web.WebSocketResponse()
            await socket.prepare(request)
            await socket.close()
            return socket
        return web.Response(text="reached")


class UdpCounter(asyncio.DatagramProtocol):
    """Counts the datagrams a STUN server on the LAN would get."""

    def __init__(self) -> None:
        """Nothing yet."""
        self.datagrams = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams += 1


@dataclass
class HostileSite:
    """The hostile page's own server, and where it reports what it saw."""

    lan: Listener
    local: Listener
    partner: Listener
    udp_port: int
    report: asyncio.Future[dict[str, str]]
    port: int = 0

    @property
    def origin(self) -> str:
        """The page's origin."""
        return f"http://{SITE_HOST}:{self.port}"

    def app(self) -> web.Application:
        """The page, a redirect into the LAN, and the report."""
        page = HOSTILE_PAGE % {
            "lan": LAN_HOST,
            "lan_port": self.lan.port,
            "local_port": self.local.port,
            "partner": PARTNER_HOST,
            "partner_port": self.partner.port,
            "udp_port": self.udp_port,
        }
        app = web.Application()
        app.router.add_get("/", lambda _: web.Response(text=page, content_type="text/html"))
        app.router.add_get("/redirect", self._redirect)
        app.router.add_post("/report", self._report)
        return app

    async def _redirect(self, _: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://{LAN_HOST}:{self.lan.port}/redirected")

    async def _report(self, request: web.Request) -> web.Response:
        if not self.report.done():
            self.report.set_result(json.loads(await request.text()))
        return web.Response(text="thanks")


@pytest.fixture
async def hostile_site() -> AsyncGenerator[HostileSite]:
    """The hostile page on 127.0.0.5, a LAN host on 127.0.0.6 and this host on 127.0.0.1."""
    listeners = [Listener(LAN_HOST), Listener("127.0.0.1"), Listener(PARTNER_HOST)]
    for listener in listeners:
        await listener.start()
    loop = asyncio.get_running_loop()
    udp, counter = await loop.create_datagram_endpoint(UdpCounter, local_addr=(LAN_HOST, 0))
    site = HostileSite(*listeners, udp.get_extra_info("sockname")[1], report=loop.create_future())
    runner, site.port = await serve(site.app(), SITE_HOST)
    site.udp = counter  # type: ignore[attr-defined]
    try:
        yield site
    finally:
        await runner.cleanup()
        udp.close()
        for listener in listeners:
            await listener.stop()


async def test_a_hostile_page_reaches_nothing_on_the_lan_or_this_host(
    renderer: Renderer,  # noqa: F811
    hostile_site: HostileSite,
) -> None:
    """Fetch, image, frame, redirect, websocket, odd spellings, file: and WebRTC: none arrive."""
    partner = f"http://{PARTNER_HOST}:{hostile_site.partner.port}"
    status, started = await renderer.call(
        "POST",
        "/sessions",
        {"url": hostile_site.origin + "/", "allowed_origins": [hostile_site.origin, partner]},
    )
    assert status == 201, started
    async with asyncio.timeout(60):
        report = await hostile_site.report
    await asyncio.sleep(2)  # the page's last move: a top-level navigation into the LAN
    status, session = await renderer.call("GET", f"/sessions/{started['id']}")
    assert (await renderer.call("DELETE", f"/sessions/{started['id']}"))[0] == 204

    # The control: an allow-listed origin other than the page's own is reached.
    assert report["partner"] == "reached"
    assert hostile_site.partner.hits == ["/hello"]
    # Nothing else was: not the LAN host, not this host, not over UDP.
    assert hostile_site.lan.hits == []
    assert hostile_site.local.hits == []
    assert hostile_site.udp.datagrams == 0  # type: ignore[attr-defined]
    # And the page itself learnt nothing (a frame loads its error page, WebRTC
    # fails silently: for those, the listeners above are the evidence).
    told = {name for name, outcome in report.items() if outcome == "reached"}
    assert told <= {"partner", "frame_redirect_to_lan", "file_frame", "webrtc_stun"}, report
    # The renderer counted the refusals (file: never gets as far as a connection).
    assert status == 200
    assert session["blocked_connections"] >= 7
    assert session["last_blocked"].startswith(LAN_HOST)


async def test_a_page_that_redirects_into_the_lan_does_not_start(
    renderer: Renderer,  # noqa: F811
    hostile_site: HostileSite,
) -> None:
    """The first URL is allowed, its redirect is not: the start fails and nothing is reached."""
    status, answer = await renderer.call(
        "POST",
        "/sessions",
        {"url": hostile_site.origin + "/redirect", "allowed_origins": [hostile_site.origin]},
    )
    assert status == 502, answer
    assert hostile_site.lan.hits == []


async def test_lan_pages_are_closed_unless_allowed(
    renderer: Renderer,  # noqa: F811
    hostile_site: HostileSite,
) -> None:
    """No allow-list: even the page's own loopback origin is closed."""
    status, answer = await renderer.call("POST", "/sessions", {"url": hostile_site.origin + "/"})
    assert status == 502, answer
    assert not hostile_site.report.done()


# 1280 MB in array buffers (outside the JavaScript heap and its limit), grown
# 32 MB every 100 ms in a worker. The page's own thread stays idle and answers
# the hang probe, however slowly the machine fills memory, so only the memory
# guard can stop it. (Grown on the page's thread, the page stalled before it
# passed the limit on a busy machine, and was restarted for a hang.)
HOG_PAGE = """<!doctype html><html><body style="background:#f00"><script>
const grow = `const hoard = [];
(function more() {
  hoard.push(new Float64Array(32 * 131072).fill(1));
  if (hoard.length < 40) setTimeout(more, 100);
})();`;
new Worker(URL.createObjectURL(new Blob([grow], {type: "text/javascript"})));
</script></body></html>"""


async def test_a_page_that_hoards_memory_crashes_alone(renderer: Renderer) -> None:  # noqa: F811
    """A page past the memory limit loses its renderer; the watchdog restarts it; the rest stays."""
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text=HOG_PAGE, content_type="text/html"))
    runner, port = await serve(app, SITE_HOST)
    origin = f"http://{SITE_HOST}:{port}"
    try:
        status, started = await renderer.call(
            "POST", "/sessions", {"url": origin + "/", "allowed_origins": [origin]}
        )
        assert status == 201, started
        session = f"/sessions/{started['id']}"
        async with asyncio.timeout(60):
            while (answer := (await renderer.call("GET", session))[1])["restarts"] < 1:
                await asyncio.sleep(0.5)
        assert answer["last_error"] == "The page crashed: it used more than 1024 MB of memory"
        health = (await renderer.call("GET", "/health"))[1]
        assert health["status"] == "ok"  # the browser itself lives on
        status, _ = await renderer.call("DELETE", session)
        assert status == 204
    finally:
        await runner.cleanup()
