"""Run the add-on from its image file system and check that it renders (see scripts/addon_image).

Runs inside the image with the image's Python. Starts the image's command as
Supervisor would (options in /data; no Supervisor reachable, so the add-on
serves without announcing itself), renders a red page into a stream, decodes a
segment with the image's FFmpeg, stops the add-on with SIGTERM and checks that
no Chromium or FFmpeg is left. Prints a table; exits non-zero on any failure.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from aiohttp import ClientSession, web

PAGE = '<!doctype html><body style="margin:0;background:#ff0000"></body>'


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def leftovers() -> list[str]:
    """Chromium and FFmpeg processes still running (the image has no ps)."""
    names = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, state = re.match(r"\d+ \((.*)\) (\S)", stat.read_text()).groups()  # type: ignore[union-attr]
        except OSError:
            continue  # gone meanwhile
        if state != "Z":  # a zombie is gone, only not yet reaped by its parent
            names.append(name)
    return [name for name in names if name.startswith("chrom") or name == "ffmpeg"]


def red_share(segment: bytes) -> float:
    """The share of the decoded frame's pixels that are red."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "mp4", "-i", "pipe:0", "-frames:v", "1",
         "-vf", "scale=16:9", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        input=segment, capture_output=True, check=True,
    ).stdout  # fmt: skip
    pixels = [raw[i : i + 3] for i in range(0, len(raw), 3)]
    return sum(1 for p in pixels if p[0] > 200 and p[1] < 60 and p[2] < 60) / len(pixels)


async def serve_red_page() -> tuple[web.AppRunner, str]:
    """A red page on loopback; its runner and URL."""
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text=PAGE, content_type="text/html"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/"


async def wait_healthy(
    http: ClientSession, base: str, data: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    """Until the add-on answers /health with the secret it made; its auth header, the answer."""
    async with asyncio.timeout(60):
        while True:
            try:
                headers = {"Authorization": f"Bearer {(data / 'secret').read_text()}"}
                async with http.get(base + "/api/renderer/health", headers=headers) as answer:
                    health: dict[str, Any] = await answer.json()
                    return headers, health
            except OSError, ValueError:
                await asyncio.sleep(0.3)


async def render_red(http: ClientSession, base: str, headers: dict[str, str], url: str) -> float:
    """Render the page; the share of red pixels in a decoded segment of its stream."""
    # The page is on loopback, which a page reaches only when its origin is allowed.
    body = {"url": url, "fps": 5, "allowed_origins": [url.rstrip("/")]}
    async with http.post(base + "/api/renderer/sessions", json=body, headers=headers) as answer:
        assert answer.status == 201, await answer.text()
        session = await answer.json()
    async with asyncio.timeout(60):
        while True:
            status_url = f"{base}/api/renderer/sessions/{session['id']}"
            async with http.get(status_url, headers=headers) as answer:
                if (await answer.json())["playable"]:
                    break
            await asyncio.sleep(0.3)
    folder = base + session["playlist"].rsplit("/", 1)[0]
    async with http.get(base + session["playlist"]) as answer:
        media = re.search(r"^(\S+\.m3u8)$", await answer.text(), re.MULTILINE)
    assert media is not None
    async with http.get(f"{folder}/{media.group(1)}") as answer:
        text = await answer.text()
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text)
    assert init is not None
    segment = [line for line in text.splitlines() if line and not line.startswith("#")][-1]
    media_bytes = b""
    for name in (init.group(1), segment):
        async with http.get(f"{folder}/{name}") as answer:
            media_bytes += await answer.read()
    return red_share(media_bytes)


def fresh_data_folder(port: int) -> Path:
    """/data as Supervisor fills it: the options, no secret yet."""
    data = Path("/data")
    data.mkdir(exist_ok=True)
    (data / "secret").unlink(missing_ok=True)
    (data / "options.json").write_text(json.dumps({"port": port, "log_level": "info"}))
    return data


async def check(image: dict[str, Any], data: Path, port: int) -> list[tuple[str, str]]:
    """Start the image's command, render, stop; the table's rows."""
    page_runner, page_url = await serve_red_page()
    started = time.monotonic()
    addon = await asyncio.create_subprocess_exec(
        *image["cmd"], cwd=image["workdir"], env={"PATH": "/usr/bin:/bin", **image["env"]}
    )
    base = f"http://127.0.0.1:{port}"
    rows: list[tuple[str, str]] = []
    async with ClientSession() as http:
        headers, _ = await wait_healthy(http, base, data)
        rows.append(("answers /health after", f"{time.monotonic() - started:.1f} s"))
        mode = (data / "secret").stat().st_mode & 0o777
        rows.append(("secret made and kept in /data/secret, mode", oct(mode)))
        share = await render_red(http, base, headers, page_url)
        rows.append(("first playable stream after start", f"{time.monotonic() - started:.1f} s"))
        _, health = await wait_healthy(http, base, data)  # it launches with the first session
        rows.append(("Chromium", str(health["chromium"])))
        isolation = health["isolation"]
        rows.append(("Chromium runs as", f"{isolation['user']}, sandbox {isolation['sandbox']}"))
        assert isolation["sandbox"], isolation
        assert isolation["user"] == "dashboard-cast"
        rows.append(("red pixels in a decoded segment", f"{share:.0%}"))
        assert share > 0.9, share
    addon.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(addon.wait(), 30)
    rows.append(("exit code on SIGTERM", str(code)))
    assert code == 0
    await page_runner.cleanup()
    # Chromium's helpers exit just after the browser; give them a moment, as the tests do.
    for _ in range(50):
        if not (left := leftovers()):
            break
        await asyncio.sleep(0.2)
    rows.append(("Chromium or FFmpeg left running 10 s after exit", str(len(left))))
    assert not left, left
    return rows


def main() -> None:
    """Check the image whose command, folder and environment sys.argv[1] holds."""
    image = json.loads(Path(sys.argv[1]).read_text())
    port = free_port()
    rows = asyncio.run(check(image, fresh_data_folder(port), port))
    print("\n| add-on image check | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
