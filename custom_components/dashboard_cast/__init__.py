"""Dashboard Cast: show a Home Assistant dashboard on a Chromecast as a live video stream."""

from __future__ import annotations

import secrets

from homeassistant.components import webhook
from homeassistant.components.ffmpeg import get_ffmpeg_manager
from homeassistant.const import CONF_WEBHOOK_ID, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.helper_integration import async_handle_source_entity_changes
from homeassistant.helpers.typing import ConfigType

from .auth import async_remove_system_user
from .const import (
    CONF_CALLBACK_SECRET,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    CONF_TARGET,
    DOMAIN,
    EndReason,
)
from .controller import CastController
from .dashboard_cast_pipeline.browser import (
    PLAYWRIGHT_REQUIREMENT,
    BrowserPool,
    playwright_importable,
)
from .dashboard_cast_pipeline.client import RendererClient, RendererError
from .dashboard_cast_pipeline.hls import StreamRegistry
from .data import DashboardCastConfigEntry, DashboardCastData
from .http import StreamView
from .issues import (
    async_check_ffmpeg,
    async_check_stream_address,
    check_renderer,
    chromium_started,
    delete_target_missing_issue,
    raise_chromium_issue,
    raise_target_missing_issue,
)
from .services import async_setup_services
from .status_callback import StatusCallbacks
from .streamer import (
    DATA_DOMAIN,
    DomainData,
    instance_work_dir,
    stream_base_url,
    sweep_work_dir,
)
from .webhooks import async_register_webhook

PLATFORMS = [Platform.CAMERA, Platform.MEDIA_PLAYER]
# Set up in the UI only: Home Assistant tells a user who still has YAML for it.
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up what all entries share: the browser, the stream view."""
    registry = StreamRegistry()
    # Session folders (and Chromium's leftovers) of a Home Assistant that crashed
    # are swept now: nothing runs yet.
    work_dir = instance_work_dir(hass)
    await hass.async_add_executor_job(sweep_work_dir, work_dir)
    pool = BrowserPool(
        on_launch_error=lambda error: raise_chromium_issue(hass, error),
        on_launch=lambda isolation: chromium_started(hass, isolation),
        temp_dir=work_dir / "browser",
    )
    can_render = await hass.async_add_executor_job(playwright_importable)
    hass.data[DATA_DOMAIN] = DomainData(
        pool=pool,
        registry=registry,
        ffmpeg_binary=get_ffmpeg_manager(hass).binary,
        can_render=can_render,
        work_dir=work_dir,
    )
    hass.http.register_view(StreamView(registry))
    async_setup_services(hass)
    await async_check_ffmpeg(hass)

    async def close_browser(_: Event) -> None:
        await pool.async_close()

    hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, close_browser)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> bool:
    """Set up a cast target."""
    target = er.async_resolve_entity_id(er.async_get(hass), entry.data[CONF_TARGET])
    if target is None:
        # The cast entity was deleted: only a reconfigure can fix this.
        raise_target_missing_issue(hass, entry)
        raise ConfigEntryError(translation_domain=DOMAIN, translation_key="target_missing")
    delete_target_missing_issue(hass, entry)
    if renderer := entry.options.get(CONF_RENDERER_URL):
        # The one connection of our own: the renderer must answer, with this secret.
        client = RendererClient(
            async_get_clientsession(hass), renderer, entry.options[CONF_RENDERER_SECRET]
        )
        try:
            await client.health()
        except RendererError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="renderer_not_ready",
                translation_placeholders={"error": str(err)},
            ) from err
    callbacks = StatusCallbacks(hass, entry)
    controller = CastController(hass, entry, hass.data[DATA_DOMAIN], target, callbacks)
    entry.runtime_data = DashboardCastData(
        target_entity_id=target,
        streamer=controller.streamer,
        controller=controller,
        callbacks=callbacks,
    )
    async_check_stream_address(hass, entry, stream_base_url(hass, entry))
    # Playwright is missing only for entries that render in here.
    renders_here = [
        other
        for other in hass.config_entries.async_entries(DOMAIN)
        if not other.options.get(CONF_RENDERER_URL)
    ]
    check_renderer(
        hass, hass.data[DATA_DOMAIN].can_render or not renders_here, PLAYWRIGHT_REQUIREMENT
    )
    async_follow_target(hass, entry)

    async def stop_session(_: Event) -> None:
        await _async_end_sessions(entry)

    # Stop before the browser closes; unload covers reloads and removal.
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, stop_session))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    async_register_webhook(hass, entry)
    return True


@callback
def async_follow_target(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
    """Follow the cast entity: reload when it is renamed, removed or moves to another device.

    A reload after removal fails setup and raises the repair issue; after a
    rename it follows the entity to its new id (the entry keeps its registry id).
    """
    registry_id: str = entry.data[CONF_TARGET]
    source = er.async_get(hass).async_get(registry_id)

    async def removed() -> None:
        hass.config_entries.async_schedule_reload(entry.entry_id)

    entry.async_on_unload(
        async_handle_source_entity_changes(
            hass,
            helper_config_entry_id=entry.entry_id,
            set_source_entity_id_or_uuid=lambda _: None,  # a registry id survives renames
            source_device_id=source.device_id if source is not None else None,
            source_entity_id_or_uuid=registry_id,
            source_entity_removed=removed,
        )
    )


async def async_unload_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> bool:
    """Unload a cast target, ending its session."""
    await _async_end_sessions(entry)
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def _async_end_sessions(entry: DashboardCastConfigEntry) -> None:
    """End the session and any pipeline of the entry: nothing may outlive it."""
    await entry.runtime_data.controller.async_request_stop(EndReason.UNLOADED)
    await entry.runtime_data.streamer.async_stop()


async def async_migrate_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> bool:
    """Bring an older entry up to date.

    1.2: every entry gets its webhook id; 1.3: its status callback secret; 1.4:
    its entities' unique ids follow the entry's id, so a reconfigure keeps them.
    """
    if entry.version > 1:
        return False  # a downgrade: we do not know that format
    if entry.minor_version < 2:
        hass.config_entries.async_update_entry(
            entry,
            data={**entry.data, CONF_WEBHOOK_ID: webhook.async_generate_id()},
            minor_version=2,
        )
    if entry.minor_version < 3:
        hass.config_entries.async_update_entry(
            entry,
            data={**entry.data, CONF_CALLBACK_SECRET: secrets.token_hex(32)},
            minor_version=3,
        )
    if entry.minor_version < 4:
        old_prefix, new_prefix = f"{entry.unique_id}-", f"{entry.entry_id}-"

        @callback
        def entry_id_based(entity: er.RegistryEntry) -> dict[str, str] | None:
            if not entity.unique_id.startswith(old_prefix):
                return None
            return {"new_unique_id": new_prefix + entity.unique_id.removeprefix(old_prefix)}

        await er.async_migrate_entries(hass, entry.entry_id, entry_id_based)
        hass.config_entries.async_update_entry(entry, minor_version=4)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: DashboardCastConfigEntry) -> None:
    """Remove the system user with the last entry."""
    if not any(
        other.entry_id != entry.entry_id for other in hass.config_entries.async_entries(DOMAIN)
    ):
        await async_remove_system_user(hass)
