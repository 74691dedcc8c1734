"""Repair issues: only problems the user can fix, each with what to do."""

from __future__ import annotations

import ipaddress

from yarl import URL

from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .dashboard_cast_pipeline.isolation import BrowserIsolation

ISSUE_CHROMIUM = "chromium_missing"
ISSUE_FFMPEG = "ffmpeg_missing"
ISSUE_PLAYWRIGHT = "playwright_missing"
ISSUE_UNSANDBOXED = "browser_unsandboxed"


def _entry_issue(kind: str, entry: ConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


@callback
def raise_chromium_issue(hass: HomeAssistant, error: str) -> None:
    """Chromium could not be started: say what to install."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_CHROMIUM,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_CHROMIUM,
        translation_placeholders={"error": error[:300]},
    )


@callback
def chromium_started(hass: HomeAssistant, isolation: BrowserIsolation | None) -> None:
    """Chromium started: say so if it runs without its sandbox, which the user can install."""
    ir.async_delete_issue(hass, DOMAIN, ISSUE_CHROMIUM)
    if isolation is None or isolation.sandbox:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_UNSANDBOXED)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_UNSANDBOXED,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=ISSUE_UNSANDBOXED,
        translation_placeholders={"user": isolation.user, "reason": isolation.reason or ""},
    )


@callback
def check_renderer(hass: HomeAssistant, can_render: bool, requirement: str) -> None:
    """Raise an issue when Playwright, which renders in this process, is not installed."""
    if can_render:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_PLAYWRIGHT)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_PLAYWRIGHT,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_PLAYWRIGHT,
        translation_placeholders={"requirement": requirement},
    )


async def async_check_ffmpeg(hass: HomeAssistant) -> None:
    """Raise an issue when the ffmpeg integration's binary does not run."""
    manager = get_ffmpeg_manager(hass)
    version, _ = await manager.async_get_version()
    if version is None:
        ir.async_create_issue(
            hass,
            DOMAIN,
            ISSUE_FFMPEG,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_FFMPEG,
            translation_placeholders={"binary": manager.binary},
        )
    else:
        ir.async_delete_issue(hass, DOMAIN, ISSUE_FFMPEG)


@callback
def raise_target_missing_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The entry's cast entity was removed: the user reconfigures or deletes the entry."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _entry_issue("target_missing", entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="target_missing",
        translation_placeholders={"title": entry.title},
    )


@callback
def delete_target_missing_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """The entry's cast entity exists."""
    ir.async_delete_issue(hass, DOMAIN, _entry_issue("target_missing", entry))


@callback
def async_check_stream_address(hass: HomeAssistant, entry: ConfigEntry, base: str | None) -> None:
    """Raise an issue when a cast device could not fetch the stream from base (or none)."""
    issue_id = _entry_issue("stream_address", entry)
    if base is not None and not _is_local_only(base):
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="stream_address_missing" if base is None else "stream_address_local",
        translation_placeholders={"title": entry.title, "address": base or ""},
    )


def _is_local_only(url: str) -> bool:
    """Tell whether an address only reaches this machine (localhost, 127.0.0.1, ::1)."""
    host = URL(url).host or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
