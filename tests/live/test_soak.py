"""A short churn soak (scripts/soak runs the long one): random starts and stops leave nothing."""

from __future__ import annotations

import asyncio
import os
import random

import pytest

from custom_components.dashboard_cast.const import DOMAIN
from homeassistant.core import HomeAssistant

from ..cast_emulator import CastDevice
from ..media import browser_processes, pipeline_processes, session_folders
from .conftest import ColourPage, release_pipeline, wait_for
from .test_cast import add_player, state_of

pytestmark = pytest.mark.usefixtures("socket_enabled")
OPERATIONS = 24


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_short_churn_leaves_nothing(
    hass: HomeAssistant,
    base_url: str,
    colour_page: ColourPage,
    cast_devices: dict[str, CastDevice],
) -> None:
    """Random start, replace, stop and short starts on two TVs, some at once.

    Each TV ends as its last request asked; one browser and at most one FFmpeg
    per TV run meanwhile; afterwards no process, folder or file is left.
    """
    targets = {
        (await add_player(hass, device, colour_page.url))[1]: device
        for device in cast_devices.values()
    }
    # Warm up once, so the baseline includes what the first session loads for good.
    player = next(iter(targets))
    await hass.services.async_call(DOMAIN, "start", {"entity_id": player}, blocking=True)
    await wait_for(lambda: state_of(hass, player) == "playing")
    await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    await release_pipeline(hass)
    # Chromium's processes exit a moment after Playwright's close returns.
    await wait_for(lambda: browser_processes() == 0)
    baseline = open_files()

    rng = random.Random(5)  # noqa: S311 - reproducible churn, not cryptography
    expect_on = dict.fromkeys(targets, False)
    done = 0
    while done < OPERATIONS:
        batch = rng.sample(sorted(targets), rng.randint(1, len(targets)))
        calls = []
        for player in batch:
            operation = rng.choice(["start", "start", "stop", "short"])
            data: dict[str, object] = {"entity_id": player}
            if operation == "short":
                data["duration"] = 1
            expect_on[player] = operation == "start"
            service = "stop" if operation == "stop" else "start"
            calls.append(hass.services.async_call(DOMAIN, service, data, blocking=True))
        await asyncio.gather(*calls)
        done += len(batch)
        await asyncio.sleep(rng.uniform(0.0, 0.8))
        assert browser_processes() <= 1
        assert list(pipeline_processes().values()).count("ffmpeg") <= len(targets)

    for player, device in targets.items():
        want = "playing" if expect_on[player] else "off"
        await wait_for(lambda player=player, want=want: state_of(hass, player) == want)  # type: ignore[misc]
        await wait_for(lambda device=device, on=expect_on[player]: (device.app is not None) == on)  # type: ignore[misc]
    running = sum(expect_on.values())
    assert list(pipeline_processes().values()).count("ffmpeg") == running
    if running:
        assert browser_processes() == 1

    for player in targets:
        await hass.services.async_call(DOMAIN, "stop", {"entity_id": player}, blocking=True)
    await release_pipeline(hass)
    assert pipeline_processes() == {}
    left = {folder: sorted(path.name for path in folder.iterdir()) for folder in session_folders()}
    assert left == {}
    assert open_files() <= baseline * 1.05
