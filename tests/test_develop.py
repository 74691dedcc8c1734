"""scripts/develop: the README's third command runs real Home Assistant for a new user."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from pathlib import Path
import shutil
import signal
import socket
import sys
import tempfile
from types import ModuleType

import aiohttp
import pytest

from .cast_emulator import CastDevice
from .loopback import loopback
from .running_ha import RunningHomeAssistant, listed_segments

REPO = Path(__file__).resolve().parent.parent
TV_HOST = loopback(5)  # an emulated Chromecast no other test uses
BANNER_TIMEOUT = 400  # the first start installs requirements Home Assistant lacks


def free_port() -> int:
    """A port nothing listens on, so the test never talks to a leftover server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def load_develop() -> ModuleType:
    """Import scripts/develop.py, which is a script and not a package."""
    spec = importlib.util.spec_from_file_location("develop", REPO / "scripts" / "develop.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def read_until_banner(stdout: asyncio.StreamReader) -> str:
    """Return develop's output up to the line that says how to log in."""
    seen = []
    while line := await stdout.readline():
        seen.append(line.decode())
        if "Press Ctrl-C to stop" in seen[-1]:
            return "".join(seen)
    raise AssertionError("develop ended before it was ready:\n" + "".join(seen[-40:]))


@pytest.mark.usefixtures("socket_enabled")
async def test_develop_serves_frontend_with_demo_user(tmp_path: Path) -> None:
    """Onboarded Home Assistant, a working demo login, a stream to a TV, clean stop."""
    develop = load_develop()
    port = free_port()
    temp_dir = Path(tempfile.mkdtemp(prefix="develop-"))  # short: Chromium's sockets are in it
    temp_dir.chmod(0o711)  # as /tmp lets Chromium's own account through
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "scripts" / "develop.py"),
        "--port",
        str(port),
        "--config-dir",
        str(tmp_path / "config"),
        # The test environment brings its own (requirements_test*.txt): the
        # newest release's cast integration pins one PyPI does not have.
        "--skip-pip-packages",
        "PyChromecast",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        # Temp files of its own: a failing test kills it, and what its streams
        # left there must not look to other tests like a leak of theirs.
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(temp_dir)},
        start_new_session=True,  # so cleanup can reach every process it started
    )
    assert proc.stdout is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        banner = await asyncio.wait_for(read_until_banner(proc.stdout), BANNER_TIMEOUT)
        assert f"user '{develop.DEMO_USER}' with password '{develop.DEMO_PASSWORD}'" in banner
        # Keep draining stdout so Home Assistant never blocks on a full pipe.
        drain = asyncio.create_task(proc.stdout.read())

        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/") as resp:
                assert resp.status == 200
                assert "<html" in (await resp.text()).lower()
            async with session.get(f"{base}/api/onboarding") as resp:
                assert all(step["done"] for step in await resp.json())
            token = await develop.login(session, base)
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(
                f"{base}/api/config/config_entries/flow_handlers", headers=headers
            ) as resp:
                assert "dashboard_cast" in await resp.json()
            async with session.get(f"{base}/api/states/sun.sun", headers=headers) as resp:
                assert resp.status == 200
            running = RunningHomeAssistant(session, base, token)
            await stream_the_demo_dashboard(running, develop.DEMO_DASHBOARD)

        # Ctrl-C in a terminal reaches the whole process group.
        os.killpg(proc.pid, signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 90) == 0
        # Its stream's files went with the stream.
        assert not list(temp_dir.glob("dashboard_cast-*/dashboard_cast_*"))
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        if drain is not None:
            await drain
        shutil.rmtree(temp_dir, ignore_errors=True)
    # Nothing listens any more: Home Assistant went with the script.
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        pass
    else:
        writer.close()
        raise AssertionError("Home Assistant still listens after develop stopped")
    # Home Assistant saw no blocking call of ours in its event loop (its tests
    # do not check file and /proc access; a running Home Assistant does).
    log = (tmp_path / "config" / "home-assistant.log").read_text()
    ours = [line for line in log.splitlines() if "dashboard_cast" in line]
    assert not [line for line in ours if "Detected blocking call" in line]
    assert not [line for line in ours if " ERROR " in line]


async def stream_the_demo_dashboard(ha: RunningHomeAssistant, dashboard: str) -> None:
    """Add an emulated TV, set Dashboard Cast up for it, and show the demo dashboard on it."""
    tv = CastDevice(TV_HOST, "Develop TV")
    await tv.start()
    try:
        await ha.flow("cast", {"known_hosts": [TV_HOST]})
        await ha.wait_for_state("media_player.develop_tv", {"off", "idle"})
        entry = await ha.flow("dashboard_cast", {"entity_id": "media_player.develop_tv"})
        assert entry["type"] == "create_entry", entry
        player = "media_player.develop_tv_dashboard"
        await ha.wait_for_state(player, {"off"})
        answer = await ha.post(
            "/api/services/dashboard_cast/start?return_response",
            {"entity_id": player, "dashboard": f"{dashboard}/home"},
        )
        master = answer["service_response"][player]["stream_url"]
        async with asyncio.timeout(60):
            while await listed_segments(ha.http, master) < 2:
                await asyncio.sleep(0.2)
        await ha.wait_for_state(player, {"playing"})
        # Signed by the cast integration, as every Home Assistant URL it casts.
        assert (tv.loaded_url or "").split("?authSig=")[0] == master
        await ha.post("/api/services/dashboard_cast/stop", {"entity_id": player})
        await ha.wait_for_state(player, {"off"})
    finally:
        await tv.stop()
