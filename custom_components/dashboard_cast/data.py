"""Typed runtime data of a Dashboard Cast config entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .controller import CastController
    from .streamer import TargetStreamer


@dataclass(slots=True)
class DashboardCastData:
    """What a loaded entry holds while it runs."""

    target_entity_id: str
    streamer: TargetStreamer
    controller: CastController


type DashboardCastConfigEntry = ConfigEntry[DashboardCastData]
