"""Config flow for Dashboard Cast: one entry per cast target."""

from __future__ import annotations

from typing import Any

import probatio

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_ENTITY_ID, Platform
from homeassistant.core import callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
)

from .const import (
    CAST_DOMAIN,
    CONF_DASHBOARD,
    CONF_FPS,
    CONF_QUALITY,
    CONF_TARGET,
    DEFAULT_DASHBOARD,
    DEFAULT_FPS,
    DEFAULT_QUALITY,
    DOMAIN,
    MAX_FPS,
    MIN_FPS,
    Quality,
)
from .dashboard import InvalidDashboardError, normalize_dashboard

DEFAULT_OPTIONS: dict[str, Any] = {
    CONF_DASHBOARD: DEFAULT_DASHBOARD,
    CONF_QUALITY: DEFAULT_QUALITY.value,
    CONF_FPS: DEFAULT_FPS,
}


def _target_schema(default: str | None = None) -> probatio.Schema:
    key = (
        probatio.Required(CONF_ENTITY_ID)
        if default is None
        else probatio.Required(CONF_ENTITY_ID, default=default)
    )
    return probatio.Schema(
        {
            key: EntitySelector(
                EntitySelectorConfig(integration=CAST_DOMAIN, domain=Platform.MEDIA_PLAYER)
            )
        }
    )


def _cast_entity(registry: er.EntityRegistry, entity_id: str) -> er.RegistryEntry | None:
    """Return the registry entry of a cast media_player, or None."""
    entry = registry.async_get(entity_id)
    if entry is None or entry.platform != CAST_DOMAIN or entry.domain != Platform.MEDIA_PLAYER:
        return None
    return entry


def _target_title(entry: er.RegistryEntry) -> str:
    return entry.name or entry.original_name or entry.entity_id


class DashboardCastConfigFlow(ConfigFlow, domain=DOMAIN):
    """Pick the cast device that shows the dashboard."""

    VERSION = 1

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> DashboardCastOptionsFlow:
        """Return the options flow."""
        return DashboardCastOptionsFlow()

    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Let the user pick the cast target."""
        registry = er.async_get(self.hass)
        if not any(
            entry.platform == CAST_DOMAIN and entry.domain == Platform.MEDIA_PLAYER
            for entry in registry.entities.values()
        ):
            return self.async_abort(reason="no_devices")
        errors: dict[str, str] = {}
        if user_input is not None:
            target = _cast_entity(registry, user_input[CONF_ENTITY_ID])
            if target is None:
                errors[CONF_ENTITY_ID] = "invalid_target"
            else:
                await self.async_set_unique_id(target.unique_id)
                self._abort_if_unique_id_configured()
                return self.async_create_entry(
                    title=_target_title(target),
                    data={CONF_TARGET: target.id},
                    options=DEFAULT_OPTIONS,
                )
        return self.async_show_form(step_id="user", data_schema=_target_schema(), errors=errors)

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Let the user move the entry to another cast target."""
        entry = self._get_reconfigure_entry()
        registry = er.async_get(self.hass)
        errors: dict[str, str] = {}
        if user_input is not None:
            target = _cast_entity(registry, user_input[CONF_ENTITY_ID])
            if target is None:
                errors[CONF_ENTITY_ID] = "invalid_target"
            else:
                other = self.hass.config_entries.async_entry_for_domain_unique_id(
                    DOMAIN, target.unique_id
                )
                if other is not None and other.entry_id != entry.entry_id:
                    return self.async_abort(reason="already_configured")
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=target.unique_id,
                    title=_target_title(target),
                    data_updates={CONF_TARGET: target.id},
                )
        current = er.async_resolve_entity_id(registry, entry.data[CONF_TARGET])
        return self.async_show_form(
            step_id="reconfigure", data_schema=_target_schema(current), errors=errors
        )


class DashboardCastOptionsFlow(OptionsFlowWithReload):
    """What is shown and how: default dashboard, quality and frame rate."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                dashboard = normalize_dashboard(user_input[CONF_DASHBOARD])
            except InvalidDashboardError:
                errors[CONF_DASHBOARD] = "invalid_dashboard"
            else:
                return self.async_create_entry(
                    data={
                        **self.config_entry.options,
                        CONF_DASHBOARD: dashboard,
                        CONF_QUALITY: user_input[CONF_QUALITY],
                        CONF_FPS: int(user_input[CONF_FPS]),
                    }
                )
        schema = probatio.Schema(
            {
                probatio.Required(CONF_DASHBOARD): TextSelector(),
                probatio.Required(CONF_QUALITY): SelectSelector(
                    SelectSelectorConfig(
                        options=[quality.value for quality in Quality],
                        translation_key=CONF_QUALITY,
                        mode=SelectSelectorMode.DROPDOWN,
                    )
                ),
                probatio.Required(CONF_FPS): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_FPS, max=MAX_FPS, step=1, mode=NumberSelectorMode.BOX
                    )
                ),
            }
        )
        suggested = {**DEFAULT_OPTIONS, **self.config_entry.options, **(user_input or {})}
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
        )
