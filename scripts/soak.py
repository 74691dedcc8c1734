"""Churn soak and crash recovery of Dashboard Cast inside a real Home Assistant.

Run with scripts/soak [--ops N] [--crashes K] [--seed S] [--json]. Like
scripts/bench it starts `hass` in a fresh config folder, here with three
emulated Chromecasts (127.0.0.2-4) and a Dashboard Cast entry for each. Then:

1. Churn: N random operations (start, stop, replace, short duration) through
   the action and the webhook, 1-3 at once on random targets. Afterwards it
   checks that every target ended as its last accepted request asked, that one
   shared Chromium and one FFmpeg per running stream were all that ran, and,
   once everything stopped and the browser idled out, that no Chromium,
   FFmpeg or temp folder is left and Home Assistant's open files and RSS are
   back within 5 % of the baseline taken after a warm-up.
2. Crash recovery: K times each, a fault is injected into a running stream
   (FFmpeg killed, Chromium killed, Chromium frozen, the page's renderer
   killed) and the page changes colour at once; recovery is the time until
   the newest segment shows the new colour.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
import json
import os
from pathlib import Path
import random
import signal
import statistics
import sys
import time
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from bench import (  # noqa: E402
    COLOURS,
    HomeAssistant,
    TestSite,
    print_table,
    roles,
    running_home_assistant,
    set_options,
)
import develop  # noqa: E402

from tests.cast_emulator import CastDevice  # noqa: E402
from tests.media import browser_pids, close_to, colour_of, newest_segment  # noqa: E402

HOSTS = {"127.0.0.2": "Soak TV one", "127.0.0.3": "Soak TV two", "127.0.0.4": "Soak TV three"}
IDLE_CLOSE_SECONDS = 65.0  # the browser closes 60 s after the last stream
TOLERANCE = 0.05
TMP = Path(os.environ.get("TMPDIR", "/tmp"))  # noqa: S108


@dataclass
class Target:
    """One emulated TV, its Dashboard Cast player and webhook, and what was last asked."""

    device: CastDevice
    player: str
    webhook: str
    expect_on: bool = False
    ends_at: float = 0.0  # a short-duration start ends by itself then


def open_files(pid: int) -> int:
    """Open file descriptors of a process."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pipeline_counts(hass_pid: int) -> tuple[int, int]:
    """Chromium browser processes (not their helpers) and FFmpeg processes of Home Assistant."""
    return len(browser_pids(hass_pid)), len(roles(hass_pid)["ffmpeg"])


def temp_folders() -> int:
    """Session folders left in the temp directory."""
    return len([*TMP.glob("dashboard_cast_*"), *TMP.glob("dashboard_cast-*/dashboard_cast_*")])


async def operate(ha: HomeAssistant, target: Target, rng: random.Random) -> str:
    """One random operation on a target; record what it asked for, if accepted."""
    op = rng.choice(["start", "start", "replace", "stop", "short"])
    if op == "replace" and not target.expect_on:
        op = "start"
    body: dict[str, Any] = {"dashboard": f"{develop.DEMO_DASHBOARD}/home"}
    if op == "short":
        body["duration"] = rng.choice([2, 3, 4])
    via_webhook = rng.random() < 0.5
    if op == "stop":
        if via_webhook:
            await webhook_call(ha, target, {"action": "stop"})
        else:
            await ha.post("/api/services/dashboard_cast/stop", {"entity_id": target.player})
        target.expect_on, target.ends_at = False, 0.0
        return op
    if via_webhook:
        if not await webhook_call(ha, target, {"action": "start", **body}):
            return "rate_limited"
    else:
        await ha.post("/api/services/dashboard_cast/start", {"entity_id": target.player, **body})
    target.expect_on = op != "short"
    target.ends_at = time.monotonic() + body["duration"] if op == "short" else 0.0
    return op


async def warm_up(ha: HomeAssistant, targets: list[Target]) -> None:
    """Stream on every target once, through the action and the webhook, then stop.

    The baseline follows this, so it includes what the first streams load for
    good (Playwright's modules, Home Assistant's caches), not a leak.
    """
    body = {"dashboard": f"{develop.DEMO_DASHBOARD}/home"}
    for index, target in enumerate(targets):
        if index % 2:
            await webhook_call(ha, target, {"action": "start", **body})
        else:
            await ha.post(
                "/api/services/dashboard_cast/start", {"entity_id": target.player, **body}
            )
    for target in targets:
        await ha.wait_for_state(target.player, {"playing"}, limit=60)
    for index, target in enumerate(targets):
        if index % 2:
            await webhook_call(ha, target, {"action": "stop"})
        else:
            await ha.post("/api/services/dashboard_cast/stop", {"entity_id": target.player})
    for target in targets:
        await ha.wait_for_state(target.player, {"off"})


async def webhook_call(ha: HomeAssistant, target: Target, body: dict[str, Any]) -> bool:
    """POST to the target's webhook; False when the rate limit refused it."""
    async with ha.http.post(target.webhook, json=body) as resp:
        if resp.status == 429:
            return False
        if resp.status != 200:
            raise RuntimeError(f"webhook: {resp.status} {await resp.text()}")
        return True


async def churn(ha: HomeAssistant, targets: list[Target], ops: int, seed: int) -> dict[str, Any]:
    """Random operations, then the checks while streams run and after all stopped."""
    rng = random.Random(seed)  # noqa: S311 - reproducible churn, not cryptography
    counts: dict[str, int] = {}
    max_browsers = 0
    ffmpeg_overflow = 0
    done = 0
    while done < ops:
        batch = rng.sample(targets, rng.randint(1, min(3, ops - done)))
        for op in await asyncio.gather(*(operate(ha, target, rng) for target in batch)):
            counts[op] = counts.get(op, 0) + 1
        done += len(batch)
        await asyncio.sleep(rng.uniform(0.0, 1.5))
        browsers, ffmpegs = pipeline_counts(ha.pid)
        max_browsers = max(max_browsers, browsers)
        # One FFmpeg per target at most; during a replace the old one is already gone.
        ffmpeg_overflow = max(ffmpeg_overflow, ffmpegs - len(targets))
    # Let short sessions end and every request settle.
    await asyncio.sleep(max(0.0, max(t.ends_at for t in targets) - time.monotonic()) + 2)
    mismatches = []
    for target in targets:
        want = {"playing"} if target.expect_on else {"off"}
        try:
            await ha.wait_for_state(target.player, want, limit=30)
        except TimeoutError:
            state = await ha.state(target.player)
            mismatches.append(f"{target.player}: {state and state['state']} not {want}")
        shows = target.device.loaded_url is not None and target.device.app is not None
        if shows != target.expect_on:
            mismatches.append(f"{target.device.name}: shows={shows}")
    running = sum(target.expect_on for target in targets)
    browsers, ffmpegs = pipeline_counts(ha.pid)
    while_running = {"browsers": browsers, "ffmpeg": ffmpegs, "streams": running}
    for target in targets:
        await ha.post("/api/services/dashboard_cast/stop", {"entity_id": target.player})
    return {
        "operations": counts,
        "max_browsers": max_browsers,
        "ffmpeg_over_targets": ffmpeg_overflow,
        "while_running": while_running,
        "mismatches": mismatches,
    }


async def recover(
    ha: HomeAssistant, target: Target, site: TestSite, fault: str, index: int
) -> float:
    """Inject one fault into the running stream; seconds until the page's change shows."""
    await ha.post(
        "/api/services/dashboard_cast/start?return_response",
        {"entity_id": target.player, "dashboard": f"{site.url}/static"},
    )
    try:
        await ha.wait_for_state(target.player, {"playing"})
    except TimeoutError:
        raise RuntimeError(f"{fault}: not playing: {await ha.state(target.player)}") from None
    master = target.device.loaded_url
    assert master is not None
    await asyncio.sleep(2)
    css, rgb = COLOURS[index % len(COLOURS)]
    inject(ha.pid, fault)
    started = time.monotonic()
    site.set_colour(css)
    async with asyncio.timeout(60):
        while True:
            try:
                _, media = await newest_segment(master.split("?")[0])
                if close_to(await colour_of(media), rgb, 40):
                    break
            except AssertionError, aiohttp.ClientError, StopIteration:
                pass  # a segment just deleted, or a half-written one: look again
            await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started
    await ha.post("/api/services/dashboard_cast/stop", {"entity_id": target.player})
    await ha.wait_for_state(target.player, {"off"})
    return elapsed


async def recovery_row(
    ha: HomeAssistant, target: Target, site: TestSite, fault: str, crashes: int
) -> dict[str, Any]:
    """Recovery times of one fault, injected crashes times."""
    print(f"  crash recovery: {fault}", file=sys.stderr)
    samples = [await recover(ha, target, site, fault, index) for index in range(crashes)]
    return {
        "fault": fault,
        "samples": len(samples),
        "median_s": round(statistics.median(samples), 2),
        "max_s": round(max(samples), 2),
    }


def inject(hass_pid: int, fault: str) -> None:
    """Break one part of the pipeline from outside, as a crash or a hang would."""
    found = roles(hass_pid)
    if fault == "ffmpeg_killed":
        pids, sig = found["ffmpeg"], signal.SIGKILL
    elif fault == "chromium_killed":
        pids, sig = found["chromium"], signal.SIGKILL
    elif fault == "chromium_frozen":
        pids, sig = found["chromium"], signal.SIGSTOP
    else:  # renderer_killed: the page crashes, the browser lives on
        pids = [
            pid
            for pid in found["chromium"]
            if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        sig = signal.SIGKILL
    for pid in pids:
        # A sandboxed renderer dies with its zygote: it may be gone already.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


FAULTS = ["ffmpeg_killed", "chromium_killed", "chromium_frozen", "renderer_killed"]


async def soak(port: int, ops: int, crashes: int, seed: int, faults: list[str]) -> dict[str, Any]:
    """Run Home Assistant with three emulated TVs; churn, check, crash, recover."""
    devices = [CastDevice(host, name) for host, name in HOSTS.items()]
    for device in devices:
        await device.start()
    site = TestSite()
    await site.start()
    try:
        async with running_home_assistant("soak", port) as ha:
            targets = await add_targets(ha, devices, site)
            print("  warm-up", file=sys.stderr)
            await warm_up(ha, targets)
            await asyncio.sleep(IDLE_CLOSE_SECONDS)
            baseline = {"open_files": open_files(ha.pid), "rss_mb": rss_mb(ha.pid)}
            print(f"  churn: {ops} operations", file=sys.stderr)
            result = await churn(ha, targets, ops, seed)
            await asyncio.sleep(IDLE_CLOSE_SECONDS)
            browsers, ffmpegs = pipeline_counts(ha.pid)
            after = {"open_files": open_files(ha.pid), "rss_mb": rss_mb(ha.pid)}
            result["after_stop"] = {
                "browsers": browsers,
                "ffmpeg": ffmpegs,
                "temp_folders": temp_folders(),
            }
            result["resources"] = [
                {
                    "measure": key,
                    "baseline": round(baseline[key], 1),
                    "after": round(after[key], 1),
                    "change_pct": round((after[key] - baseline[key]) / baseline[key] * 100, 1),
                }
                for key in baseline
            ]
            result["recovery"] = [
                await recovery_row(ha, targets[0], site, fault, crashes)
                for fault in (faults if crashes else [])
            ]
    finally:
        await site.stop()
        for device in devices:
            await device.stop()
    return result


async def add_targets(ha: HomeAssistant, devices: list[CastDevice], site: TestSite) -> list[Target]:
    """The TVs through the cast flow, and a Dashboard Cast entry for each.

    Each allows the test site: it is on loopback, which pages reach only when allow-listed.
    """
    await ha.flow("cast", {"known_hosts": [device.host for device in devices]})
    targets = []
    for device in devices:
        cast = "media_player." + device.name.lower().replace(" ", "_")
        await ha.wait_for_state(cast, {"off", "idle"})
        entry = await ha.flow("dashboard_cast", {"entity_id": cast})
        flow = await ha.post(
            "/api/config/config_entries/options/flow", {"handler": entry["result"]["entry_id"]}
        )
        webhook = flow["description_placeholders"]["webhook_url"].rsplit("/", 1)[1]
        await set_options(ha, entry["result"]["entry_id"], allowed_origins=[site.url])
        player = cast + "_dashboard"
        await ha.wait_for_state(player, {"off"})
        targets.append(Target(device, player, f"{ha.base}/api/webhook/{webhook}"))
    return targets


def verdict(result: dict[str, Any]) -> list[str]:
    """What failed, if anything."""
    failures = list(result["mismatches"])
    if result["max_browsers"] > 1:
        failures.append(f"{result['max_browsers']} browsers ran at once")
    if result["ffmpeg_over_targets"] > 0:
        failures.append("more FFmpeg processes than targets")
    running = result["while_running"]
    if running["ffmpeg"] != running["streams"] or running["browsers"] != (running["streams"] > 0):
        failures.append(f"while running: {running}")
    if any(result["after_stop"].values()):
        failures.append(f"left after stop: {result['after_stop']}")
    failures.extend(
        f"{row['measure']} grew {row['change_pct']} %"
        for row in result["resources"]
        if row["change_pct"] > TOLERANCE * 100
    )
    return failures


def main() -> int:
    """Parse arguments, run, print; exit 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=300, help="random operations")
    parser.add_argument("--crashes", type=int, default=3, help="injections of each fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated faults")
    parser.add_argument("--port", type=int, default=8125)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    faults = args.faults.split(",")
    if unknown := set(faults) - set(FAULTS):
        parser.error(f"unknown faults: {', '.join(sorted(unknown))}")
    result = asyncio.run(soak(args.port, args.ops, args.crashes, args.seed, faults))
    print(f"operations: {result['operations']}")
    print(
        f"while running: {result['while_running']}, most browsers at once: {result['max_browsers']}"
    )
    print(f"after stop: {result['after_stop']}")
    print()
    print_table(result["resources"])
    if result["recovery"]:
        print()
        print_table(result["recovery"])
    failures = verdict(result)
    print("\n" + ("FAILED: " + "; ".join(failures) if failures else "all checks passed"))
    if args.json:
        print(json.dumps(result))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
