"""The renderer service as a process of its own: its API, its secret, its stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
import json
import os
from pathlib import Path
import signal
import socket
import sys
from typing import Any, TextIO

from aiohttp import ClientSession, web
import pytest

from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import (
    CHROMIUM_ARGS,
    find_chromium,
)

from ..cross_origin import (
    RECEIVER_ORIGIN,
    allowed_origins,
    check_blocking_reload,
    check_stream_serving,
)
from ..media import browser_pids, close_to, colour_of, pipeline_processes, serve
from .conftest import BLUE, RED, ColourPage, wait_for, wait_for_colour

pytestmark = pytest.mark.usefixtures("socket_enabled")
REPO = Path(__file__).resolve().parents[2]
SECRET = "renderer-test-secret-" + "7" * 16


@dataclass
class Renderer:
    """A running renderer service and an HTTP client for it."""

    base: str
    http: ClientSession
    process: asyncio.subprocess.Process

    async def call(
        self, method: str, path: str, body: Any = None, *, secret: str | None = SECRET
    ) -> tuple[int, Any]:
        """Call the API; the answer's status and JSON (None when empty)."""
        headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        async with self.http.request(
            method, self.base + "/api/renderer" + path, data=data, headers=headers
        ) as response:
            text = await response.text()
            return response.status, json.loads(text) if text else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def start_renderer(
    http: ClientSession,
    port: int,
    *options: str,
    env: dict[str, str] | None = None,
    stderr: TextIO | None = None,
    healthy: bool = True,
) -> Renderer:
    """Start python -m dashboard_cast_renderer on loopback; return once it answers.

    healthy=False: once it answers at all (its health may be an error).
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dashboard_cast_renderer", "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", *options,
        cwd=REPO, env={**os.environ, "DASHBOARD_CAST_RENDERER_SECRET": SECRET, **(env or {})},
        stderr=stderr,
        start_new_session=True,  # its own process group, so a test can crash all of it
    )  # fmt: skip
    service = Renderer(f"http://127.0.0.1:{port}", http, process)
    async with asyncio.timeout(30):
        while True:
            try:
                status = (await service.call("GET", "/health"))[0]
                if status == 200 or not healthy:
                    return service
            except OSError:
                pass
            await asyncio.sleep(0.2)


async def wait_playable(service: Renderer, session: str) -> None:
    """Until the session's playlist has enough segments to play."""
    async with asyncio.timeout(30):
        while not (await service.call("GET", session))[1]["playable"]:
            await asyncio.sleep(0.2)


async def crash(service: Renderer) -> None:
    """Kill the service with all its processes at once, as a crashed container."""
    os.killpg(service.process.pid, signal.SIGKILL)
    await service.process.wait()


@pytest.fixture
async def renderer() -> AsyncGenerator[Renderer]:
    """The renderer service as a process of its own; afterwards nothing of it runs."""
    async with ClientSession() as http:
        service = await start_renderer(http, free_port())
        try:
            yield service
        finally:
            if service.process.returncode is None:
                service.process.terminate()
                assert await service.process.wait() == 0  # a clean shutdown on SIGTERM
    await wait_for(lambda: pipeline_processes() == {})


async def test_renders_a_page_into_a_stream_only_the_token_opens(
    renderer: Renderer, colour_page: ColourPage
) -> None:
    """A session streams the page live under its token path; deleting it ends the stream."""
    status, started = await renderer.call("POST", "/sessions", colour_page.session(fps=5))
    assert status == 201, started
    session = f"/sessions/{started['id']}"
    await wait_playable(renderer, session)
    master = renderer.base + started["playlist"]
    await wait_for_colour(master, RED)
    colour_page.colour = "#0000ff"
    await wait_for_colour(master, BLUE)
    # Another page: only http(s), only for a session that exists.
    for body in ({"url": "file:///etc/passwd"}, {"url": "javascript:alert(1)"}, {}, [1]):
        status, answer = await renderer.call("POST", session + "/show", body)
        assert status == 400, (body, answer)
    status, _ = await renderer.call("POST", "/sessions/nope/show", {"url": colour_page.url})
    assert status == 404
    status, _ = await renderer.call("POST", session + "/show", {"url": colour_page.url})
    assert status == 204
    assert colour_page.loads == 2  # opened anew: another site's page is no frontend to navigate
    await wait_for_colour(master, BLUE)
    await check_stream_serving(master)
    await check_blocking_reload(master)
    status, info = await renderer.call("GET", session)
    assert (status, info["state"], info["last_error"]) == (200, "running", None)
    assert info["frames_in"] > 0

    async with renderer.http.get(
        renderer.base + "/api/renderer" + session + "/frame",
        headers={"Authorization": f"Bearer {SECRET}"},
    ) as response:
        assert (response.status, response.content_type) == (200, "image/jpeg")
        assert close_to(await colour_of(await response.read(), "jpeg_pipe"), BLUE)
    # The API is for Home Assistant, not for pages: no origin may read it.
    async with renderer.http.get(
        renderer.base + "/api/renderer" + session + "/frame",
        headers={"Authorization": f"Bearer {SECRET}", "Origin": RECEIVER_ORIGIN},
    ) as response:
        assert response.status == 200
        assert allowed_origins(response) == []
    loads = colour_page.loads
    assert (await renderer.call("POST", session + "/reload"))[0] == 204
    await wait_for(lambda: colour_page.loads == loads + 1)

    token = started["playlist"].split("/")[3]
    async with renderer.http.get(master.replace(token, "0" * 32)) as other:
        assert other.status == 404  # another token opens nothing

    assert (await renderer.call("DELETE", session))[0] == 204
    async with renderer.http.get(master) as response:
        assert response.status == 404  # the token died with the session
    assert (await renderer.call("GET", session))[0] == 404
    for gone in ("/frame", "/reload"):
        method = "GET" if gone == "/frame" else "POST"
        assert (await renderer.call(method, session + gone))[0] == 404
    await wait_for(lambda: "ffmpeg" not in pipeline_processes().values())


async def test_refuses_requests_without_the_secret_and_brakes_guessing(
    renderer: Renderer,
) -> None:
    """Every API call needs the secret; after five wrong ones that address must wait."""
    status, health = await renderer.call("GET", "/health")
    assert (status, health["sessions"]) == (200, 0)
    for secret in (None, "", "wrong-secret-of-some-length", SECRET + "x"):
        status, answer = await renderer.call("GET", "/health", secret=secret)
        assert status == 401
        assert answer["message"] == "missing or wrong secret"
    guess = "a-guessed-secret-" + "1" * 16
    status, _ = await renderer.call("POST", "/sessions", {"url": "http://x/"}, secret=guess)
    assert status == 401
    # The brake: the next call from this address is refused, even with the secret.
    status, answer = await renderer.call("GET", "/health")
    assert (status, answer["message"]) == (429, "too many wrong secrets")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"url": "http://x/"' + b" " * 20000 + b"}", 413),
        ({}, 400),
        ({"url": "file:///etc/passwd"}, 400),
        ({"url": "javascript:alert(1)"}, 400),
        ({"url": "chrome://settings"}, 400),
        ({"url": "http://127.0.0.1:9/", "fps": 0}, 400),
        ({"url": "http://127.0.0.1:9/", "fps": True}, 400),
        ({"url": "http://127.0.0.1:9/", "zoom": "big"}, 400),
        ({"url": "http://127.0.0.1:9/", "quality": "4k"}, 400),
        ({"url": "http://127.0.0.1:9/", "refresh_token": "only half of a login"}, 400),
        ({"url": "http://127.0.0.1:9/", "shell": "rm -rf /"}, 400),
    ],
)
async def test_refuses_bad_sessions_and_starts_nothing(
    renderer: Renderer, body: Any, status: int
) -> None:
    """Bad input gets a clear error; no session, Chromium or FFmpeg starts."""
    answered, answer = await renderer.call("POST", "/sessions", body)
    assert answered == status
    assert answer["status"] == "error"
    assert answer["message"]
    assert (await renderer.call("GET", "/health"))[1]["sessions"] == 0
    assert pipeline_processes() == {}


async def test_drives_a_running_browser_over_cdp(colour_page: ColourPage, tmp_path: Path) -> None:
    """With --cdp-url the service renders in a browser it did not start, and leaves it running."""
    browser = await asyncio.create_subprocess_exec(
        find_chromium() or "chromium", *CHROMIUM_ARGS, "--no-sandbox", "--headless",
        "--remote-debugging-port=0", f"--user-data-dir={tmp_path}", "about:blank",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert browser.stderr is not None
    try:
        async with asyncio.timeout(30):
            while b"DevTools listening on ws://" not in (line := await browser.stderr.readline()):
                assert line, "Chromium exited"
        endpoint = line.decode().split("listening on ")[1].strip()
        async with ClientSession() as http:
            service = await start_renderer(http, free_port(), "--cdp-url", endpoint)
            status, started = await service.call("POST", "/sessions", colour_page.session())
            assert status == 201, started
            await wait_playable(service, f"/sessions/{started['id']}")
            await wait_for_colour(service.base + started["playlist"], RED)
            assert browser_pids(service.process.pid) == []  # it launched no Chromium
            assert (await service.call("DELETE", f"/sessions/{started['id']}"))[0] == 204
            service.process.terminate()
            assert await service.process.wait() == 0
        assert browser.returncode is None  # not ours to close
    finally:
        browser.terminate()
        await browser.wait()
    await wait_for(lambda: pipeline_processes() == {})


async def test_a_session_nobody_asks_after_is_stopped(colour_page: ColourPage) -> None:
    """Its Home Assistant is gone: the session stops after the TTL; an asked-after one runs on."""
    async with ClientSession() as http:
        service = await start_renderer(http, free_port(), "--session-ttl", "2")
        try:
            sessions = []
            for _ in range(2):
                status, started = await service.call("POST", "/sessions", colour_page.session())
                assert status == 201, started
                sessions.append(f"/sessions/{started['id']}")
            kept, forgotten = sessions
            for _ in range(12):  # 6 s, three TTLs: only one of them is asked after
                assert (await service.call("GET", kept))[0] == 200
                await asyncio.sleep(0.5)
            assert (await service.call("GET", "/health"))[1]["sessions"] == 1
            assert (await service.call("DELETE", forgotten))[0] == 404  # already gone
            assert (await service.call("DELETE", kept))[0] == 204
        finally:
            service.process.terminate()
            assert await service.process.wait() == 0
    await wait_for(lambda: pipeline_processes() == {})


async def test_a_slow_page_holds_up_no_other_start(
    renderer: Renderer, colour_page: ColourPage
) -> None:
    """A page that takes long to answer: another start goes ahead meanwhile."""
    release = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="<body>late</body>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", slow)
    runner, port = await serve(app)
    try:
        slow_start = asyncio.create_task(
            renderer.call(
                "POST",
                "/sessions",
                {
                    "url": f"http://127.0.0.1:{port}/",
                    "allowed_origins": [f"http://127.0.0.1:{port}"],
                },
            )
        )
        await asyncio.sleep(1)  # its page is loading
        status, fast = await renderer.call("POST", "/sessions", colour_page.session())
        assert status == 201, fast
        assert not slow_start.done()  # still waiting for its page, and it held nothing up
        release.set()
        status, late = await slow_start
        assert status == 201, late
        for started in (fast, late):
            assert (await renderer.call("DELETE", f"/sessions/{started['id']}"))[0] == 204
    finally:
        release.set()
        await runner.cleanup()
