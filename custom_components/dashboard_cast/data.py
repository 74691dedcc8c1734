"""Typed runtime data of a Dashboard Cast config entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .controller import CastController
    from .status_callback import StatusCallbacks
    from .streamer import TargetStreamer


@dataclass(slots=True)
class DashboardCastData:
    """What a loaded entry holds while it runs."""

    target_entity_id: str
    streamer: TargetStreamer
    controller: CastController
    callbacks: StatusCallbacks


type DashboardCastConfigEntry = ConfigEntry[DashboardCastData]
