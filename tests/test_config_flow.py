"""Config, options and reconfigure flows."""

from __future__ import annotations

import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.dashboard_cast.const import (
    CONF_ALLOWED_ORIGINS,
    CONF_BASE_URL,
    CONF_CALLBACK_SECRET,
    CONF_DASHBOARD,
    CONF_FPS,
    CONF_KEEP_CASTING,
    CONF_ORIENTATION,
    CONF_QUALITY,
    CONF_REDUCE_MOTION,
    CONF_ROTATE_INTERVAL,
    CONF_ROTATION,
    CONF_SCREEN_CARE,
    CONF_SEGMENT_SECONDS,
    CONF_SILENT_AUDIO,
    CONF_TARGET,
    CONF_THEME,
    CONF_WEBHOOK_REMOTE,
    CONF_ZOOM,
    DOMAIN,
)
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_ENTITY_ID, CONF_WEBHOOK_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er

from .conftest import CALLBACK_SECRET

# The defaults written out: what a new entry gets, and a valid form to submit.
VALID_OPTIONS = {
    CONF_DASHBOARD: "lovelace/0",
    CONF_QUALITY: "auto",
    CONF_FPS: 5,
    CONF_THEME: "auto",
    CONF_ZOOM: 1.0,
    CONF_KEEP_CASTING: False,
    CONF_REDUCE_MOTION: True,
    CONF_SEGMENT_SECONDS: 0.5,
    CONF_SILENT_AUDIO: False,
    CONF_SCREEN_CARE: False,
    CONF_ORIENTATION: "landscape",
    CONF_ROTATION: [],
    CONF_ROTATE_INTERVAL: 30,
    CONF_WEBHOOK_REMOTE: False,
}


async def test_no_cast_device_aborts(hass: HomeAssistant) -> None:
    """Without a cast media player there is nothing to pick."""
    # A media player of another integration does not count.
    er.async_get(hass).async_get_or_create("media_player", "kodi", "kodi-1")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "no_devices"


async def test_user_flow_creates_entry(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry
) -> None:
    """Picking a cast media player creates an entry keyed by the cast device."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: living_room_tv.entity_id}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Living room TV"
    # The registry id survives an entity rename; the unique id is the cast device's.
    assert result["data"] == {
        CONF_TARGET: living_room_tv.id,
        CONF_WEBHOOK_ID: result["data"][CONF_WEBHOOK_ID],
        CONF_CALLBACK_SECRET: result["data"][CONF_CALLBACK_SECRET],
    }
    assert len(result["data"][CONF_WEBHOOK_ID]) >= 32  # unguessable
    assert len(bytes.fromhex(result["data"][CONF_CALLBACK_SECRET])) == 32
    assert result["options"] == VALID_OPTIONS
    entry = result["result"]
    assert entry.unique_id == living_room_tv.unique_id
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.target_entity_id == living_room_tv.entity_id


async def test_user_flow_rejects_non_cast_entity(
    hass: HomeAssistant, living_room_tv: er.RegistryEntry
) -> None:
    """An entity that is not a cast media player gives an error and the form again."""
    other = er.async_get(hass).async_get_or_create("media_player", "kodi", "kodi-1")
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    for wrong in (other.entity_id, "media_player.does_not_exist"):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ENTITY_ID: wrong}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {CONF_ENTITY_ID: "invalid_target"}
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: living_room_tv.entity_id}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_duplicate_target_aborts(
    hass: HomeAssistant, config_entry: MockConfigEntry, living_room_tv: er.RegistryEntry
) -> None:
    """The same cast device cannot be added twice, even after an entity rename."""
    registry = er.async_get(hass)
    renamed = registry.async_update_entity(
        living_room_tv.entity_id, new_entity_id="media_player.big_screen"
    )
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: renamed.entity_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_options_flow(hass: HomeAssistant, config_entry: MockConfigEntry) -> None:
    """Options are validated, normalized, saved, and the entry reloads."""
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    # The webhook is shown where the user can copy it.
    assert result["description_placeholders"]["webhook_url"].endswith(
        "/api/webhook/living-room-webhook"
    )
    assert result["description_placeholders"]["callback_secret"] == CALLBACK_SECRET

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **VALID_OPTIONS,
            CONF_DASHBOARD: "  /dashboard-tv/kitchen/ ",
            CONF_ROTATION: [" dashboard-tv/garden/ ", "https://example.com/weather"],
            CONF_ROTATE_INTERVAL: 45.0,
            CONF_QUALITY: "1080p",
            CONF_FPS: 12.0,
            CONF_THEME: "dark",
            CONF_ZOOM: 1.5,
            CONF_KEEP_CASTING: True,
            CONF_REDUCE_MOTION: False,
            CONF_SEGMENT_SECONDS: 2,
            CONF_SILENT_AUDIO: True,
            CONF_SCREEN_CARE: True,
            CONF_ORIENTATION: "portrait_left",
            CONF_BASE_URL: " http://192.168.1.10:8123/ ",
            CONF_WEBHOOK_REMOTE: True,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options == {
        CONF_DASHBOARD: "dashboard-tv/kitchen",
        CONF_ROTATION: ["dashboard-tv/garden", "https://example.com/weather"],
        CONF_ROTATE_INTERVAL: 45,
        CONF_QUALITY: "1080p",
        CONF_FPS: 12,
        CONF_THEME: "dark",
        CONF_ZOOM: 1.5,
        CONF_KEEP_CASTING: True,
        CONF_REDUCE_MOTION: False,
        CONF_SEGMENT_SECONDS: 2.0,
        CONF_SILENT_AUDIO: True,
        CONF_SCREEN_CARE: True,
        CONF_ORIENTATION: "portrait_left",
        CONF_BASE_URL: "http://192.168.1.10:8123",
        CONF_WEBHOOK_REMOTE: True,
    }
    assert isinstance(config_entry.options[CONF_FPS], int)
    assert config_entry.state is ConfigEntryState.LOADED


@pytest.mark.parametrize(
    "dashboard",
    [
        "",
        "   ",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<h1>x</h1>",
        "chrome://settings",
        "ftp://example.com/",
        "http://",
        "lovelace/../../etc",
        "with space/0",
        "x" * 3000,
    ],
)
async def test_options_flow_rejects_bad_dashboard(
    hass: HomeAssistant, config_entry: MockConfigEntry, dashboard: str
) -> None:
    """A bad dashboard gives a translated error and changes nothing."""
    before = dict(config_entry.options)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_DASHBOARD: dashboard}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DASHBOARD: "invalid_dashboard"}
    assert dict(config_entry.options) == before

    # The form can be corrected, and an https URL of any site is accepted.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**VALID_OPTIONS, CONF_DASHBOARD: "https://example.com/board?x=1"},
    )
    await hass.async_block_till_done()  # the options flow schedules a reload
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options[CONF_DASHBOARD] == "https://example.com/board?x=1"


@pytest.mark.parametrize(
    ("rotation", "error"),
    [
        (["lovelace/1", "javascript:alert(1)"], "invalid_dashboard"),
        ([f"lovelace/{view}" for view in range(20)], "too_many_dashboards"),
    ],
)
async def test_options_flow_rejects_bad_rotation(
    hass: HomeAssistant, config_entry: MockConfigEntry, rotation: list[str], error: str
) -> None:
    """A bad page among the rotation, or too many, gives a translated error and changes nothing."""
    before = dict(config_entry.options)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_ROTATION: rotation}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ROTATION: error}
    assert dict(config_entry.options) == before


@pytest.mark.parametrize(
    "origin",
    ["ftp://192.168.1.30", "http://192.168.1.30:3000/path", "192.168.1.30", "http://u:p@nas.lan"],
)
async def test_options_flow_allowed_sites(
    hass: HomeAssistant, config_entry: MockConfigEntry, origin: str
) -> None:
    """Allowed sites are origins only; they are saved in canonical form, and cleared to none."""
    before = dict(config_entry.options)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_ALLOWED_ORIGINS: [origin]}
    )
    assert result["errors"] == {CONF_ALLOWED_ORIGINS: "invalid_origin"}
    assert dict(config_entry.options) == before
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **VALID_OPTIONS,
            CONF_ALLOWED_ORIGINS: [
                "HTTP://NAS.lan:80/",
                " https://192.168.1.30:3000 ",
                "http://nas.lan",
            ],
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert config_entry.options[CONF_ALLOWED_ORIGINS] == [
        "http://nas.lan",
        "https://192.168.1.30:3000",
    ]
    # More than the renderer takes: refused, the saved list stays.
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**VALID_OPTIONS, CONF_ALLOWED_ORIGINS: [f"http://10.0.0.{n}" for n in range(51)]},
    )
    assert result["errors"] == {CONF_ALLOWED_ORIGINS: "too_many_origins"}
    assert len(config_entry.options[CONF_ALLOWED_ORIGINS]) == 2
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_ALLOWED_ORIGINS: []}
    )
    await hass.async_block_till_done()
    assert CONF_ALLOWED_ORIGINS not in config_entry.options


@pytest.mark.parametrize(
    "base_url",
    ["ftp://192.168.1.10", "http://", "http://192.168.1.10:8123/path", "192.168.1.10:8123", "x y"],
)
async def test_options_flow_rejects_bad_base_url(
    hass: HomeAssistant, config_entry: MockConfigEntry, base_url: str
) -> None:
    """The stream address must be http(s) with a host and no path; clearing it removes it."""
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, CONF_BASE_URL: "http://10.0.0.2:8123"}
    )
    before = dict(config_entry.options)
    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_BASE_URL: base_url}
    )
    assert result["errors"] == {CONF_BASE_URL: "invalid_base_url"}
    assert dict(config_entry.options) == before

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**VALID_OPTIONS, CONF_BASE_URL: ""}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_BASE_URL not in config_entry.options


async def test_reconfigure_changes_target(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    living_room_tv: er.RegistryEntry,
    kitchen_hub: er.RegistryEntry,
) -> None:
    """Reconfigure moves the entry to another cast device and keeps its options and entities."""
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    options = dict(config_entry.options)
    registry = er.async_get(hass)
    ours = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(registry, config_entry.entry_id)
    }
    assert len(ours) == 2

    result = await config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    # The form starts at the current target.
    schema_key = next(iter(result["data_schema"].schema))
    assert schema_key.default() == living_room_tv.entity_id

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: "media_player.does_not_exist"}
    )
    assert result["errors"] == {CONF_ENTITY_ID: "invalid_target"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: kitchen_hub.entity_id}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.unique_id == kitchen_hub.unique_id
    # The webhook stays: callers outside keep working.
    assert config_entry.data == {
        CONF_TARGET: kitchen_hub.id,
        CONF_WEBHOOK_ID: "living-room-webhook",
        CONF_CALLBACK_SECRET: CALLBACK_SECRET,
    }
    assert config_entry.title == "Kitchen hub"
    assert dict(config_entry.options) == options
    assert config_entry.state is ConfigEntryState.LOADED
    assert config_entry.runtime_data.target_entity_id == kitchen_hub.entity_id
    # The same entities, under the same ids: nothing orphaned, no automation broken.
    after = {
        e.unique_id: e.entity_id
        for e in er.async_entries_for_config_entry(registry, config_entry.entry_id)
    }
    assert after == ours
    assert all(hass.states.get(entity_id) is not None for entity_id in ours.values())


async def test_reconfigure_to_configured_target_aborts(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    living_room_tv: er.RegistryEntry,
    kitchen_hub: er.RegistryEntry,
) -> None:
    """Reconfigure cannot take a device that another entry already uses."""
    other = MockConfigEntry(
        domain=DOMAIN,
        title="Kitchen hub",
        unique_id=kitchen_hub.unique_id,
        data={CONF_TARGET: kitchen_hub.id},
    )
    other.add_to_hass(hass)
    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: kitchen_hub.entity_id}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert config_entry.unique_id == living_room_tv.unique_id
    assert config_entry.data[CONF_TARGET] == living_room_tv.id

    # Keeping the same device is allowed.
    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: living_room_tv.entity_id}
    )
    await hass.async_block_till_done()  # the flow schedules a reload
    assert result["reason"] == "reconfigure_successful"


async def test_reconfigure_when_target_was_deleted(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    living_room_tv: er.RegistryEntry,
    kitchen_hub: er.RegistryEntry,
) -> None:
    """An entry whose cast entity is gone can be pointed at another one."""
    er.async_get(hass).async_remove(living_room_tv.entity_id)
    result = await config_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    schema_key = next(iter(result["data_schema"].schema))
    assert schema_key.default is probatio.UNDEFINED

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ENTITY_ID: kitchen_hub.entity_id}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert config_entry.state is ConfigEntryState.LOADED
