"""Typed runtime data of a Dashboard Cast config entry."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry


@dataclass(slots=True)
class DashboardCastData:
    """What a loaded entry holds while it runs."""

    target_entity_id: str


type DashboardCastConfigEntry = ConfigEntry[DashboardCastData]
