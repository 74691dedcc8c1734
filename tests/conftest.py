"""Shared fixtures for Dashboard Cast tests."""

from __future__ import annotations

from collections.abc import Generator
import os
from pathlib import Path
import shutil
import tempfile

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.dashboard_cast.const import (
    CONF_CALLBACK_SECRET,
    CONF_TARGET,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from homeassistant.const import CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

CALLBACK_SECRET = "5e" * 32
WORKER_TEMP = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Give each test worker (pytest-xdist) a temp folder of its own.

    Tests look in the temp folder for what a stream left behind (session
    folders, browser profiles): another worker's running streams are not
    leaks of theirs. Its processes (Chromium, FFmpeg) inherit it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        return
    # Short: the full Chromium's socket path in it has at most 107 characters.
    folder = Path(tempfile.gettempdir()) / f"dc-{worker}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    folder.chmod(0o1777)  # as /tmp: Chromium's own account keeps files there too
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # gettempdir() looks again
    config.stash[WORKER_TEMP] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the worker's temp folder."""
    if (folder := config.stash.get(WORKER_TEMP, None)) is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load custom_components/ in every test."""
    return


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots as Home Assistant core takes them (ids and times left out)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


def register_cast_entity(hass: HomeAssistant, uuid: str, name: str) -> er.RegistryEntry:
    """Register a media_player the way the cast integration does.

    Its entity has no name of its own (has_entity_name, name None): what a
    person sees is its device's name, the cast device's friendly name.
    """
    cast_entry = MockConfigEntry(domain="cast")
    cast_entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=cast_entry.entry_id,
        identifiers={("cast", uuid)},
        name=name,
        manufacturer="Google Inc.",
        model="Chromecast",
    )
    return er.async_get(hass).async_get_or_create(
        "media_player",
        "cast",
        uuid,
        config_entry=cast_entry,
        device_id=device.id,
        has_entity_name=True,
        original_name=None,
    )


@pytest.fixture
def living_room_tv(hass: HomeAssistant) -> er.RegistryEntry:
    """A cast media player in the entity registry."""
    return register_cast_entity(hass, "0b0c8a5e-1111-4f4e-9a58-0123456789ab", "Living room TV")


@pytest.fixture
def kitchen_hub(hass: HomeAssistant) -> er.RegistryEntry:
    """A second cast media player."""
    return register_cast_entity(hass, "5f3d2c1b-2222-4a4a-8b8b-abcdefabcdef", "Kitchen hub")


@pytest.fixture
def config_entry(hass: HomeAssistant, living_room_tv: er.RegistryEntry) -> MockConfigEntry:
    """A Dashboard Cast entry for the living room TV, added to hass but not set up."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Living room TV",
        entry_id="01JDASHCAST0LIVINGROOMTV000",  # fixed: entity ids and snapshots derive from it
        unique_id=living_room_tv.unique_id,
        minor_version=4,
        data={
            CONF_TARGET: living_room_tv.id,
            CONF_WEBHOOK_ID: "living-room-webhook",
            CONF_CALLBACK_SECRET: CALLBACK_SECRET,
        },
        options=DEFAULT_OPTIONS,
    )
    entry.add_to_hass(hass)
    return entry
