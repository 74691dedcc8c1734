"""How a Home Assistant dashboard looks in the renderer: kiosk, theme, zoom, live reload."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import io
import os
from typing import Any

from PIL import Image
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import CONF_DASHBOARD
from custom_components.dashboard_cast.dashboard_cast_pipeline.options import Quality, Theme
from custom_components.dashboard_cast.dashboard_cast_pipeline.priority import (
    RENDERER_NICE,
    descendants,
)
from custom_components.dashboard_cast.streamer import TargetStreamer
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component

from ..dashboards import TEST_DASHBOARD, store_test_dashboard
from ..media import first_content_row, pipeline_processes, thread_nice_values
from .conftest import release_pipeline

pytestmark = pytest.mark.usefixtures("socket_enabled")

# Finds an element by tag through every shadow root of the page.
DEEP_FIND = """(tag) => {
  const walk = (root) => {
    const found = root.querySelector(tag);
    if (found) return found;
    for (const el of root.querySelectorAll("*")) {
      if (el.shadowRoot) { const inner = walk(el.shadowRoot); if (inner) return inner; }
    }
    return null;
  };
  return walk(document);
}"""


@pytest.fixture
def stored_dashboard(hass_storage: dict[str, Any]) -> None:
    """The test dashboard in storage, before the frontend (and with it lovelace) loads."""
    store_test_dashboard(hass_storage)


@pytest.fixture
async def board_streamer(
    hass: HomeAssistant,
    stored_dashboard: None,
    base_url: str,
    config_entry: MockConfigEntry,
) -> AsyncGenerator[TargetStreamer]:
    """A loaded entry on an instance with a stored dashboard of two views."""
    assert await async_setup_component(hass, "lovelace", {})
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_DASHBOARD: f"{TEST_DASHBOARD}/kitchen"}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    yield config_entry.runtime_data.streamer
    await hass.config_entries.async_unload(config_entry.entry_id)
    await release_pipeline(hass)


async def wait_for_card(page: Any) -> None:
    """Until the view's markdown card is on screen."""
    await page.wait_for_function(
        f"() => ({DEEP_FIND})('hui-markdown-card') !== null", timeout=30000
    )


async def showing_card(streamer: TargetStreamer, **overrides: Any) -> tuple[Any, Any]:
    """Start the board's session; its session and page once the card is on screen."""
    session = await streamer.async_start(**overrides)
    await asyncio.wait_for(session.wait_playable(), 30)
    page = session._page
    assert page is not None
    await wait_for_card(page)
    return session, page


async def test_dashboard_in_kiosk_with_theme_and_zoom(
    board_streamer: TargetStreamer, base_url: str
) -> None:
    """No header, no sidebar; the theme and zoom options reach the page."""
    session, page = await showing_card(
        board_streamer, theme=Theme.DARK, zoom=2.0, quality=Quality.P720
    )
    assert page.url == f"{base_url}/{TEST_DASHBOARD}/kitchen"

    header_display = await page.evaluate(
        f"""() => {{
          const root = ({DEEP_FIND})('hui-root');
          const header = root.shadowRoot.querySelector('.header');
          return getComputedStyle(header).display;
        }}"""
    )
    assert header_display == "none"
    # The view starts at the top of the screen: no space is kept for a header.
    card_top = await page.evaluate(
        f"() => ({DEEP_FIND})('hui-markdown-card').getBoundingClientRect().top"
    )
    assert card_top < 20
    sidebar_width = await page.evaluate(
        f"""() => {{
          const sidebar = ({DEEP_FIND})('ha-sidebar');
          return sidebar ? sidebar.getBoundingClientRect().width : 0;
        }}"""
    )
    assert sidebar_width == 0
    assert await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert await page.evaluate("window.devicePixelRatio") == 2
    assert await page.evaluate("[innerWidth, innerHeight]") == [640, 360]
    # Laid out at half the size, drawn at every pixel of the stream (test_zoom.py).
    with Image.open(io.BytesIO(session.latest_frame)) as picture:
        assert picture.size == (1280, 720)


async def content_starts_near_the_top(session: Any, page: Any, limit: int) -> int:
    """Wait until the streamed picture has content within `limit` rows of the top; return the row.

    The picture, not the page's layout: what the TV shows.
    """
    row = None
    async with asyncio.timeout(30):
        while row is None or row >= limit:
            await asyncio.sleep(0.5)
            if (frame := session.latest_frame) is not None:
                row = await first_content_row(frame)
    assert await page.evaluate("document.querySelector('home-assistant').hass.kioskMode")
    return row


async def test_stored_dashboard_starts_at_the_top_of_the_picture(
    board_streamer: TargetStreamer,
) -> None:
    """No band is kept for the hidden header: the first card starts at the top of the picture."""
    session, page = await showing_card(board_streamer)
    assert await content_starts_near_the_top(session, page, 24) < 24


async def test_generated_overview_starts_at_the_top_of_the_picture(
    hass: HomeAssistant, base_url: str, config_entry: MockConfigEntry
) -> None:
    """A fresh instance's first dashboard (the generated Overview, in the home panel).

    Its header, and the welcome banner below it, keep a band of 100 rows at the
    top unless both are hidden and no room is kept for them.
    """
    assert await async_setup_component(hass, "lovelace", {})
    hass.states.async_set("light.kitchen", "on", {"friendly_name": "Kitchen light"})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    session = await config_entry.runtime_data.streamer.async_start()
    try:
        await asyncio.wait_for(session.wait_playable(), 30)
        page = session._page
        assert page is not None
        assert await content_starts_near_the_top(session, page, 48) < 48
        assert page.url == f"{base_url}/home/overview"
    finally:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await release_pipeline(hass)


async def test_dashboard_reloads_when_its_configuration_changes(
    hass: HomeAssistant, board_streamer: TargetStreamer
) -> None:
    """lovelace_updated for our dashboard reloads the page; for another, nothing happens."""
    _, page = await showing_card(board_streamer)
    await page.evaluate("window.__before_reload = true")

    hass.bus.async_fire("lovelace_updated", {"url_path": "some-other-board"})
    await hass.async_block_till_done()
    await asyncio.sleep(1)
    assert await page.evaluate("window.__before_reload === true")

    hass.bus.async_fire("lovelace_updated", {"url_path": TEST_DASHBOARD})
    await hass.async_block_till_done()
    await page.wait_for_function("() => window.__before_reload === undefined", timeout=15000)
    await wait_for_card(page)


async def test_renderer_runs_below_home_assistant_priority(
    board_streamer: TargetStreamer,
) -> None:
    """Every thread of FFmpeg, Chromium and Playwright's driver runs niced.

    Per thread: the compositor and the picture's JPEG encoding run on threads
    of Chromium's browser process, which a process-wide look at its first
    thread would not see.
    """
    session = await board_streamer.async_start()
    await asyncio.wait_for(session.wait_playable(), 30)
    driver = {
        pid: name for pid, name in descendants(os.getpid()).items() if name.startswith("node")
    }
    processes = pipeline_processes() | driver
    kinds = {name.split("-")[0] for name in processes.values()}
    assert {"ffmpeg", "chromium", "node"} <= kinds
    threads = {pid: thread_nice_values(pid) for pid in processes}
    assert sum(map(len, threads.values())) > 3 * len(processes)  # all threads, not one each
    above = {
        processes[pid]: values for pid, values in threads.items() if min(values) < RENDERER_NICE
    }
    assert not above
