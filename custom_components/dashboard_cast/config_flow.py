"""Config flow for Dashboard Cast: one entry per cast target."""

from __future__ import annotations

from http import HTTPStatus
import secrets
from typing import Any, override

import probatio
from yarl import URL

from homeassistant.components import webhook
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_ENTITY_ID, CONF_WEBHOOK_ID, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.network import NoURLAvailableError
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
from homeassistant.helpers.service_info.hassio import HassioServiceInfo
from homeassistant.util.hass_dict import HassKey

from .const import (
    CAST_DOMAIN,
    CONF_ALLOWED_ORIGINS,
    CONF_BASE_URL,
    CONF_CALLBACK_SECRET,
    CONF_DASHBOARD,
    CONF_KEEP_CASTING,
    CONF_RENDERER_ADDON,
    CONF_RENDERER_SECRET,
    CONF_RENDERER_URL,
    CONF_ROTATE_INTERVAL,
    CONF_ROTATION,
    CONF_TARGET,
    CONF_WEBHOOK_REMOTE,
    DEFAULT_OPTIONS,
    DEFAULT_ROTATE_INTERVAL,
    DOMAIN,
    MAX_ROTATE_INTERVAL,
    MAX_ROTATION,
    MIN_ROTATE_INTERVAL,
)
from .dashboard import InvalidDashboardError, normalize_dashboard
from .dashboard_cast_pipeline.browser import playwright_importable
from .dashboard_cast_pipeline.client import RendererClient, RendererError
from .dashboard_cast_pipeline.egress import MAX_ALLOWED_ORIGINS
from .dashboard_cast_pipeline.options import STREAM_OPTIONS, stream_option_values
from .fields import option_selector
from .url_policy import InvalidOriginError, normalize_origin

# The renderer add-on Supervisor announced last: the setup of another screen offers it.
DATA_DISCOVERED_RENDERER: HassKey[dict[str, str]] = HassKey(f"{DOMAIN}_discovered_renderer")
# What the add-on announces (dashboard_cast_renderer/addon.py).
DISCOVERY_SCHEMA = probatio.Schema(
    {
        probatio.Required("host"): probatio.All(str, probatio.Length(min=1)),
        probatio.Required("port"): probatio.All(int, probatio.Range(min=1, max=65535)),
        probatio.Required("secret"): probatio.All(str, probatio.Length(min=16)),
    },
    extra=probatio.ALLOW_EXTRA,
)


class InvalidBaseUrlError(ValueError):
    """Not an http(s) address with a host and nothing after the port."""


def normalize_base_url(value: str) -> str | None:
    """Return the stream base URL option in canonical form; empty means none."""
    text = value.strip().rstrip("/")
    if not text:
        return None
    try:
        url = URL(text)
    except ValueError as err:
        raise InvalidBaseUrlError(text) from err
    if url.scheme not in ("http", "https") or not url.host or url.path not in ("", "/"):
        raise InvalidBaseUrlError(text)
    if url.query_string or url.fragment:
        raise InvalidBaseUrlError(text)
    return str(url.origin())


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


def _target_title(hass: HomeAssistant, entry: er.RegistryEntry) -> str:
    """The name a person sees for the cast entity: its own, else its device's."""
    return er.async_get_full_entity_name(hass, entry) or entry.entity_id


async def _checked_renderer(
    hass: HomeAssistant, user_input: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """The renderer options of a form, checked against the renderer; or the form's errors.

    An empty address means rendering in Home Assistant: no options, no errors.
    """
    try:
        url = normalize_base_url(user_input.get(CONF_RENDERER_URL, ""))
    except InvalidBaseUrlError:
        return {}, {CONF_RENDERER_URL: "invalid_base_url"}
    if url is None:
        return {}, {}
    secret = user_input.get(CONF_RENDERER_SECRET, "")
    try:
        await RendererClient(async_get_clientsession(hass), url, secret).health()
    except RendererError as err:
        error = "renderer_unreachable"
        if err.status == HTTPStatus.UNAUTHORIZED:
            error = "renderer_refused"
        elif err.status == HTTPStatus.BAD_GATEWAY:  # it cannot use the browser it drives
            error = "renderer_no_browser"
        elif err.status == HTTPStatus.TOO_MANY_REQUESTS:  # its brake on wrong secrets
            error = "renderer_wait"
        return {}, {CONF_RENDERER_URL: error}
    return {CONF_RENDERER_URL: url, CONF_RENDERER_SECRET: secret}, {}


def _with_addon(renderer: dict[str, str], addon: dict[str, Any]) -> dict[str, str]:
    """The renderer, marked as the add-on's when it is the add-on's address and secret."""
    same = all(
        addon.get(key) == renderer.get(key) for key in (CONF_RENDERER_URL, CONF_RENDERER_SECRET)
    )
    if renderer and same and addon.get(CONF_RENDERER_ADDON):
        return {**renderer, CONF_RENDERER_ADDON: str(addon[CONF_RENDERER_ADDON])}
    return renderer


RENDERER_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_RENDERER_URL): TextSelector(
            TextSelectorConfig(type=TextSelectorType.URL)
        ),
        probatio.Required(CONF_RENDERER_SECRET): TextSelector(
            TextSelectorConfig(type=TextSelectorType.PASSWORD)
        ),
    }
)


class DashboardCastConfigFlow(ConfigFlow, domain=DOMAIN):
    """Pick the cast device that shows the dashboard."""

    VERSION = 1
    MINOR_VERSION = 4
    _target: er.RegistryEntry | None = None
    # The renderer this flow renders on, chosen before the screen (a discovered add-on).
    _renderer: dict[str, str] | None = None
    _discovered: dict[str, str] | None = None

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> DashboardCastOptionsFlow:
        """Return the options flow."""
        return DashboardCastOptionsFlow()

    @override
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
                self._target = target
                if self._renderer is not None:
                    return self._create_entry(self._renderer)
                # Rendering in Home Assistant is offered only where it can work.
                if not await self.hass.async_add_executor_job(playwright_importable):
                    return await self.async_step_renderer()
                return self._create_entry({})
        return self.async_show_form(step_id="user", data_schema=_target_schema(), errors=errors)

    async def async_step_renderer(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Without Playwright here, a renderer service must render: where, with what secret."""
        errors: dict[str, str] = {}
        if user_input is not None:
            renderer, errors = await _checked_renderer(self.hass, user_input)
            if not errors:
                discovered = self.hass.data.get(DATA_DISCOVERED_RENDERER, {})
                return self._create_entry(_with_addon(renderer, discovered))
        # A discovered add-on is suggested: one click for each further screen.
        suggested = user_input or self.hass.data.get(DATA_DISCOVERED_RENDERER, {})
        return self.async_show_form(
            step_id="renderer",
            data_schema=self.add_suggested_values_to_schema(RENDERER_SCHEMA, suggested),
            errors=errors,
        )

    @override
    async def async_step_hassio(self, discovery_info: HassioServiceInfo) -> ConfigFlowResult:
        """The renderer add-on announced itself through the Supervisor.

        Entries that render on it follow it to a new address or secret; otherwise
        the user may set up a screen that renders on it.
        """
        try:
            config = DISCOVERY_SCHEMA(discovery_info.config)
        except probatio.Invalid:
            return self.async_abort(reason="invalid_discovery")
        url = str(URL.build(scheme="http", host=config["host"], port=config["port"]))
        renderer = {
            CONF_RENDERER_URL: url,
            CONF_RENDERER_SECRET: config["secret"],
            # The add-on's slug: the same across its restarts (each announcement
            # has a uuid of its own).
            CONF_RENDERER_ADDON: discovery_info.slug,
        }
        self.hass.data[DATA_DISCOVERED_RENDERER] = renderer
        if self._follow_renderer(renderer):
            return self.async_abort(reason="renderer_configured")
        await self.async_set_unique_id(discovery_info.uuid)
        self._abort_if_unique_id_configured()
        self._discovered = renderer
        self.context["title_placeholders"] = {"name": discovery_info.name}
        return await self.async_step_hassio_confirm()

    def _follow_renderer(self, renderer: dict[str, str]) -> bool:
        """Move the entries on this add-on to its new address or secret; tell if any.

        An entry is the add-on's when it carries the add-on's discovery id, or
        (set up before entries carried it) the add-on's own secret. A renderer
        entered by hand at the same address is another renderer: it is left alone.
        """
        found = False
        for entry in self._async_current_entries(include_ignore=False):
            options = entry.options
            if CONF_RENDERER_URL not in options:
                continue
            if CONF_RENDERER_ADDON in options:
                ours = options[CONF_RENDERER_ADDON] == renderer[CONF_RENDERER_ADDON]
            else:
                ours = options.get(CONF_RENDERER_SECRET) == renderer[CONF_RENDERER_SECRET]
            if not ours:
                continue
            found = True
            if any(options.get(key) != value for key, value in renderer.items()):
                self.hass.config_entries.async_update_entry(entry, options={**options, **renderer})
                self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return found

    async def async_step_hassio_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Render on the add-on? Then pick the screen."""
        assert self._discovered is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            renderer, field_errors = await _checked_renderer(self.hass, self._discovered)
            if not field_errors:
                self._renderer = _with_addon(renderer, self._discovered)
                return await self.async_step_user()
            errors["base"] = field_errors[CONF_RENDERER_URL]
        return self.async_show_form(
            step_id="hassio_confirm",
            description_placeholders={"addon": self.context["title_placeholders"]["name"]},
            errors=errors,
        )

    def _create_entry(self, renderer: dict[str, str]) -> ConfigFlowResult:
        assert self._target is not None
        return self.async_create_entry(
            title=_target_title(self.hass, self._target),
            data={
                CONF_TARGET: self._target.id,
                CONF_WEBHOOK_ID: webhook.async_generate_id(),
                CONF_CALLBACK_SECRET: secrets.token_hex(32),
            },
            options={**DEFAULT_OPTIONS, **renderer},
        )

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
                    title=_target_title(self.hass, target),
                    data_updates={CONF_TARGET: target.id},
                )
        current = er.async_resolve_entity_id(registry, entry.data[CONF_TARGET])
        return self.async_show_form(
            step_id="reconfigure", data_schema=_target_schema(current), errors=errors
        )


def _pages(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The options form's dashboard and rotation as options, and the errors in them."""
    options: dict[str, Any] = {
        CONF_ROTATE_INTERVAL: int(user_input.get(CONF_ROTATE_INTERVAL, DEFAULT_ROTATE_INTERVAL))
    }
    errors: dict[str, str] = {}
    try:
        options[CONF_DASHBOARD] = normalize_dashboard(user_input[CONF_DASHBOARD])
    except InvalidDashboardError:
        errors[CONF_DASHBOARD] = "invalid_dashboard"
    try:
        options[CONF_ROTATION] = [
            normalize_dashboard(value) for value in user_input.get(CONF_ROTATION, [])
        ]
    except InvalidDashboardError:
        errors[CONF_ROTATION] = "invalid_dashboard"
    else:
        if len(options[CONF_ROTATION]) >= MAX_ROTATION:  # the default one counts too
            errors[CONF_ROTATION] = "too_many_dashboards"
    return options, errors


class DashboardCastOptionsFlow(OptionsFlowWithReload):
    """What is shown and how: default dashboard, quality, frame rate, look, re-casting."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Edit the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options = {
                **self.config_entry.options,
                CONF_KEEP_CASTING: bool(user_input[CONF_KEEP_CASTING]),
                CONF_WEBHOOK_REMOTE: bool(user_input[CONF_WEBHOOK_REMOTE]),
            }
            try:
                options |= stream_option_values(user_input, as_json=True)
            except probatio.Invalid as err:  # a number the form allows, such as 5.5 frames/s
                errors[str(err.path[0]) if err.path else "base"] = "invalid_option"
            pages, page_errors = _pages(user_input)
            options |= pages
            errors |= page_errors
            try:
                base_url = normalize_base_url(user_input.get(CONF_BASE_URL, ""))
            except InvalidBaseUrlError:
                errors[CONF_BASE_URL] = "invalid_base_url"
            else:
                options.pop(CONF_BASE_URL, None)
                if base_url is not None:
                    options[CONF_BASE_URL] = base_url
            try:
                origins = sorted(
                    {normalize_origin(value) for value in user_input.get(CONF_ALLOWED_ORIGINS, [])}
                )
            except InvalidOriginError:
                errors[CONF_ALLOWED_ORIGINS] = "invalid_origin"
            else:
                if len(origins) > MAX_ALLOWED_ORIGINS:  # the renderer would refuse every start
                    errors[CONF_ALLOWED_ORIGINS] = "too_many_origins"
                options.pop(CONF_ALLOWED_ORIGINS, None)
                if origins:
                    options[CONF_ALLOWED_ORIGINS] = origins
            errors |= await self._validate_renderer(user_input, options)
            if not errors:
                return self.async_create_entry(data=options)
        schema = probatio.Schema(
            {
                probatio.Required(CONF_DASHBOARD): TextSelector(),
                probatio.Optional(CONF_ROTATION): TextSelector(TextSelectorConfig(multiple=True)),
                probatio.Optional(CONF_ROTATE_INTERVAL): NumberSelector(
                    NumberSelectorConfig(
                        min=MIN_ROTATE_INTERVAL,
                        max=MAX_ROTATE_INTERVAL,
                        step=1,
                        mode=NumberSelectorMode.BOX,
                        unit_of_measurement="s",
                    )
                ),
                **{
                    probatio.Required(option.key): option_selector(option)
                    for option in STREAM_OPTIONS
                },
                probatio.Required(CONF_KEEP_CASTING): BooleanSelector(),
                probatio.Optional(CONF_BASE_URL): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL)
                ),
                probatio.Required(CONF_WEBHOOK_REMOTE): BooleanSelector(),
                probatio.Optional(CONF_ALLOWED_ORIGINS): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL, multiple=True)
                ),
                probatio.Optional(CONF_RENDERER_URL): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.URL)
                ),
                probatio.Optional(CONF_RENDERER_SECRET): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.PASSWORD)
                ),
            }
        )
        suggested = {**DEFAULT_OPTIONS, **self.config_entry.options, **(user_input or {})}
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),
            errors=errors,
            description_placeholders={
                "webhook_url": self._webhook_url(),
                "callback_secret": self.config_entry.data.get(CONF_CALLBACK_SECRET, ""),
            },
        )

    async def _validate_renderer(
        self, user_input: dict[str, Any], options: dict[str, Any]
    ) -> dict[str, str]:
        """Put the renderer into options once it answers with this secret; else the errors."""
        previous = {
            key: options.pop(key, None)
            for key in (CONF_RENDERER_URL, CONF_RENDERER_SECRET, CONF_RENDERER_ADDON)
        }
        renderer, errors = await _checked_renderer(self.hass, user_input)
        options.update(_with_addon(renderer, previous))
        return errors

    def _webhook_url(self) -> str:
        webhook_id = self.config_entry.data[CONF_WEBHOOK_ID]
        try:
            return webhook.async_generate_url(self.hass, webhook_id, allow_external=False)
        except NoURLAvailableError:
            return webhook.async_generate_path(webhook_id)
