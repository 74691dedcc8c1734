"""Diagnostics of a config entry: the session, the pipeline's figures and the versions.

Webhook ids, secrets, stream tokens and credentials in URLs are redacted.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib import metadata
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant

from .const import (
    CONF_BASE_URL,
    CONF_CALLBACK_SECRET,
    CONF_DASHBOARD,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    CONF_ROTATION,
)
from .dashboard_cast_pipeline.client import RendererError
from .dashboard_cast_pipeline.redact import text_for_logs, url_for_logs
from .data import DashboardCastConfigEntry
from .streamer import DATA_DOMAIN, TargetStreamer

TO_REDACT = {CONF_WEBHOOK_ID, CONF_CALLBACK_SECRET, CONF_RENDERER_SECRET}


def _scrub(text: str | None) -> str | None:
    return None if text is None else text_for_logs(text)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: DashboardCastConfigEntry
) -> dict[str, Any]:
    """Return what helps to debug an entry, without its secrets."""
    domain = hass.data[DATA_DOMAIN]
    data = entry.runtime_data
    controller, streamer = data.controller, data.streamer
    session = streamer.session
    stats = session.stats if session is not None else streamer.last_stats
    options = async_redact_data(dict(entry.options), TO_REDACT)
    for key in (CONF_DASHBOARD, CONF_BASE_URL, CONF_RENDERER_URL):
        if key in options:
            options[key] = url_for_logs(str(options[key]))
    if CONF_ROTATION in options:
        options[CONF_ROTATION] = [url_for_logs(str(page)) for page in options[CONF_ROTATION]]
    current = controller.current
    pipeline: dict[str, Any] | None = None
    if stats is not None:
        ffmpeg = session.ffmpeg_cpu_seconds() if session is not None else stats.ffmpeg_cpu_seconds
        pipeline = {
            **asdict(stats),
            "last_error": _scrub(stats.last_error),
            "dropped_frames": stats.dropped_frames,
            "ffmpeg_cpu_seconds": round(ffmpeg, 2),
        }
    ffmpeg_version, _ = await get_ffmpeg_manager(hass).async_get_version()
    isolation = domain.pool.isolation
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": options,
        },
        "session": {
            "state": controller.state,
            "session_id": current.identity.session_id if current is not None else None,
            "dashboard": url_for_logs(current.dashboard) if current is not None else None,
            "rotation": len(current.dashboards) if current is not None else None,
            "showing": None if controller.showing is None else url_for_logs(controller.showing),
            "returns": current.returns if current is not None else None,
            "returns_waiting": controller.returns_waiting,
            "end_reason": controller.end_reason,
            "last_error": _scrub(controller.last_error),
            "pipeline_running": session is not None,
        },
        "pipeline": pipeline,
        "browser": {
            # Home Assistant's own Chromium; a renderer reports its own in "renderer".
            "isolation": None if isolation is None else isolation.as_dict(),
            "executable": domain.pool.executable,
            # frame_clock: pages render on the encoder's clock; screencast: by damage.
            "capture": domain.pool.capture_mode,
            "running": domain.pool.running,
            "launches": domain.pool.launches,
            "chromium_cpu_seconds": round(
                await hass.async_add_executor_job(domain.pool.cpu_seconds), 2
            ),
        },
        "renderer": await _renderer_health(streamer),
        "status_callbacks": {
            "delivered": data.callbacks.delivered,
            "failed": data.callbacks.failed,
            "last_error": _scrub(data.callbacks.last_error),
        },
        "versions": {
            "chromium": domain.pool.version,
            "ffmpeg": ffmpeg_version,
            "playwright": await hass.async_add_executor_job(_package_version, "playwright"),
        },
    }


async def _renderer_health(streamer: TargetStreamer) -> dict[str, Any] | None:
    """What the renderer says of itself (its Chromium's isolation too), if the entry has one."""
    client = streamer.renderer
    if client is None:
        return None
    try:
        return await client.health()
    except RendererError as err:
        return {"error": _scrub(str(err))}


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
