"""Run Home Assistant with Dashboard Cast loaded from the working tree.

Started by scripts/develop inside the project's environment. It starts `hass`,
finishes onboarding through Home Assistant's own onboarding API (first run
only), logs the demo user in through the login flow to prove the credentials,
creates a demo dashboard if missing, prints how to log in, and stops Home
Assistant on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
from pathlib import Path
import signal
import sys
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
DEMO_USER = "demo"
DEMO_PASSWORD = "dashboard-cast-demo"  # noqa: S105 - a local demo account, printed to the user
DEMO_DASHBOARD = "dashboard-demo"
STARTUP_TIMEOUT = 600  # the first start may install integration requirements

CONFIGURATION_YAML = """\
# Written by scripts/develop. Delete .cache/develop to start from scratch.
homeassistant:
  name: Dashboard Cast demo
  internal_url: http://127.0.0.1:{port}
frontend:
config:
http:
  server_port: {port}
input_boolean:
  demo_lamp:
    name: Living room lamp
    icon: mdi:floor-lamp
input_number:
  demo_temperature:
    name: Thermostat
    min: 15
    max: 28
    step: 0.5
    unit_of_measurement: "°C"
sun:
logger:
  default: {log_level}
  logs:
    custom_components.dashboard_cast: {our_log_level}
"""

DEMO_DASHBOARD_CONFIG: dict[str, Any] = {
    "title": "Dashboard Cast demo",
    "views": [
        {
            "title": "Home",
            "path": "home",
            "cards": [
                {"type": "clock", "clock_size": "large"},
                {
                    "type": "entities",
                    "title": "Living room",
                    "entities": ["input_boolean.demo_lamp", "input_number.demo_temperature"],
                },
                {
                    "type": "gauge",
                    "entity": "input_number.demo_temperature",
                    "min": 15,
                    "max": 28,
                },
                {
                    "type": "markdown",
                    "content": "## Dashboard Cast\nThe sun is **{{ states('sun.sun') }}**.",
                },
            ],
        }
    ],
}


def prepare_config_dir(
    config_dir: Path, port: int, log_level: str = "info", our_log_level: str = "debug"
) -> None:
    """Write configuration.yaml once and link the integration from the working tree."""
    config_dir.mkdir(parents=True, exist_ok=True)
    configuration = config_dir / "configuration.yaml"
    if not configuration.exists():
        configuration.write_text(
            CONFIGURATION_YAML.format(port=port, log_level=log_level, our_log_level=our_log_level)
        )
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    link = custom / "dashboard_cast"
    if not link.is_symlink():
        link.symlink_to(REPO / "custom_components" / "dashboard_cast")


async def wait_until_up(
    session: aiohttp.ClientSession, base: str, hass: asyncio.subprocess.Process
) -> list[dict[str, Any]]:
    """Wait until Home Assistant answers its onboarding API."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while loop.time() < deadline:
        if hass.returncode is not None:
            raise RuntimeError(f"Home Assistant exited with code {hass.returncode}")
        try:
            async with session.get(f"{base}/api/onboarding") as resp:
                if resp.status == 200:
                    steps: list[dict[str, Any]] = await resp.json()
                    return steps
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(1)
    raise TimeoutError("Home Assistant did not start in time")


async def token_from_code(session: aiohttp.ClientSession, base: str, code: str) -> str:
    """Exchange an authorization code for an access token."""
    async with session.post(
        f"{base}/auth/token",
        data={"grant_type": "authorization_code", "code": code, "client_id": f"{base}/"},
    ) as resp:
        resp.raise_for_status()
        token: str = (await resp.json())["access_token"]
        return token


async def onboard(session: aiohttp.ClientSession, base: str, steps: list[dict[str, Any]]) -> None:
    """Finish the onboarding steps not done yet, creating the demo user as owner."""
    pending = {step["step"] for step in steps if not step["done"]}
    if not pending:
        return
    client_id = f"{base}/"
    headers: dict[str, str] = {}
    if "user" in pending:
        async with session.post(
            f"{base}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": "Demo",
                "username": DEMO_USER,
                "password": DEMO_PASSWORD,
                "language": "en",
            },
        ) as resp:
            resp.raise_for_status()
            code = (await resp.json())["auth_code"]
        headers["Authorization"] = f"Bearer {await token_from_code(session, base, code)}"
    else:
        headers["Authorization"] = f"Bearer {await login(session, base)}"
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": client_id, "redirect_uri": f"{base}/?auth_callback=1"}),
    ):
        if step in pending:
            async with session.post(
                f"{base}/api/onboarding/{step}", json=body, headers=headers
            ) as resp:
                resp.raise_for_status()


async def login(session: aiohttp.ClientSession, base: str) -> str:
    """Log the demo user in through the login flow the frontend uses."""
    client_id = f"{base}/"
    async with session.post(
        f"{base}/auth/login_flow",
        json={
            "client_id": client_id,
            "handler": ["homeassistant", None],
            "redirect_uri": f"{base}/?auth_callback=1",
        },
    ) as resp:
        resp.raise_for_status()
        flow_id = (await resp.json())["flow_id"]
    async with session.post(
        f"{base}/auth/login_flow/{flow_id}",
        json={"client_id": client_id, "username": DEMO_USER, "password": DEMO_PASSWORD},
    ) as resp:
        resp.raise_for_status()
        result = await resp.json()
    if result.get("type") != "create_entry":
        raise RuntimeError(f"the demo user cannot log in: {result.get('errors')}")
    return await token_from_code(session, base, result["result"])


async def ensure_demo_dashboard(session: aiohttp.ClientSession, base: str, token: str) -> None:
    """Confirm the HTTP configuration and create the demo dashboard if it is missing.

    Home Assistant 2026.10 moves the YAML http: section into storage as a
    pending trial, and restarts with its defaults 5 minutes later unless the
    user confirms it: confirm it, as a user would once the frontend answers.
    """
    async with session.ws_connect(f"{base}/api/websocket") as ws:
        await ws.receive_json()  # auth_required
        await ws.send_json({"type": "auth", "access_token": token})
        if (await ws.receive_json())["type"] != "auth_ok":
            raise RuntimeError("websocket authentication failed")

        async def call(msg_id: int, **message: Any) -> Any:
            await ws.send_json({"id": msg_id, **message})
            reply = await ws.receive_json()
            if not reply.get("success"):
                raise RuntimeError(f"{message['type']} failed: {reply.get('error')}")
            return reply.get("result")

        await ws.send_json({"id": 1, "type": "http/config/promote"})
        await ws.receive_json()  # an error only means nothing was pending
        dashboards = await call(2, type="lovelace/dashboards/list")
        if any(board["url_path"] == DEMO_DASHBOARD for board in dashboards):
            return
        await call(
            3,
            type="lovelace/dashboards/create",
            url_path=DEMO_DASHBOARD,
            title="Demo",
            icon="mdi:television",
            show_in_sidebar=True,
            require_admin=False,
            mode="storage",
        )
        await call(
            4, type="lovelace/config/save", url_path=DEMO_DASHBOARD, config=DEMO_DASHBOARD_CONFIG
        )


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to send SIGTERM to this child when its parent dies.

    Runs in the child before exec: even if develop itself is killed, Home
    Assistant does not stay behind.
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def run(config_dir: Path, port: int, skip_pip_packages: list[str]) -> int:
    """Run Home Assistant until it exits or is asked to stop."""
    prepare_config_dir(config_dir, port)
    skip = ["--skip-pip-packages", ",".join(skip_pip_packages)] if skip_pip_packages else []
    hass = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "homeassistant",
        "-c",
        str(config_dir),
        *skip,
        preexec_fn=die_with_parent,
    )
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)

    async def bootstrap() -> None:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            await onboard(session, base, await wait_until_up(session, base, hass))
            await ensure_demo_dashboard(session, base, await login(session, base))
        print(
            f"\n  Home Assistant is running at {base}\n"
            f"  Log in as user '{DEMO_USER}' with password '{DEMO_PASSWORD}'.\n"
            f"  Demo dashboard: {base}/{DEMO_DASHBOARD}/home\n"
            "  Add Dashboard Cast under Settings > Devices & services > Add integration.\n"
            "  Press Ctrl-C to stop.\n",
            flush=True,
        )

    boot = asyncio.create_task(bootstrap())
    exited = asyncio.create_task(hass.wait())
    stop = asyncio.create_task(stopping.wait())
    await asyncio.wait({exited, stop, boot}, return_when=asyncio.FIRST_COMPLETED)
    failed = boot.done() and not boot.cancelled() and boot.exception() is not None
    if failed:
        print(f"develop: setting up the demo failed: {boot.exception()!r}", file=sys.stderr)
    else:
        await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
    boot.cancel()
    if hass.returncode is None:
        hass.terminate()  # Ctrl-C already reached it through the terminal; harmless twice
        try:
            await asyncio.wait_for(hass.wait(), 60)
        except TimeoutError:
            hass.kill()
            await hass.wait()
    stop.cancel()
    if failed:
        return 1
    return 0 if stopping.is_set() else (hass.returncode or 0)


def main() -> int:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--config-dir", type=Path, default=REPO / ".cache" / "develop")
    parser.add_argument(
        "--skip-pip-packages",
        type=lambda names: names.split(","),
        default=[],
        help="Home Assistant's option: packages (comma-separated) it must not install",
    )
    args = parser.parse_args()
    return asyncio.run(run(args.config_dir.resolve(), args.port, args.skip_pip_packages))


if __name__ == "__main__":
    sys.exit(main())
