"""Home Assistant OS and Container cannot install Playwright: the integration still loads."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.dashboard_cast.const import DOMAIN
from custom_components.dashboard_cast.dashboard_cast_pipeline.browser import PLAYWRIGHT_REQUIREMENT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir

from .test_hostile_input import assert_nothing_started, available_player  # noqa: F401

INTEGRATION = Path(__file__).parent.parent / "custom_components" / "dashboard_cast"


@pytest.fixture
def no_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make Playwright unimportable, as on a musl system where it cannot be installed."""
    for name in [name for name in sys.modules if name.split(".")[0] == "playwright"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "playwright", None)  # import playwright raises


def run_python(script: str, cwd: Path = INTEGRATION.parent.parent) -> None:
    """Run a script in a fresh interpreter (from the repository); fail with its stderr."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_module_imports_without_playwright() -> None:
    """No module of the integration imports Playwright when loaded.

    Nor does the manifest require it: it has no musllinux wheel.
    """
    modules = sorted(
        ".".join(path.relative_to(INTEGRATION).with_suffix("").parts)
        for path in INTEGRATION.rglob("*.py")
        if path.stem != "__init__"
    )
    run_python(
        "import sys, importlib\n"
        "sys.modules['playwright'] = None\n"
        "importlib.import_module('custom_components.dashboard_cast')\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module('custom_components.dashboard_cast.' + name)\n"
        "assert not any(name.startswith('playwright.') for name in sys.modules)\n"
    )
    assert len(modules) > 20  # the glob found the integration
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    assert not any(req.startswith("playwright") for req in manifest["requirements"])
    # What the repair tells users to install is what the tests run with.
    pinned = (INTEGRATION.parent.parent / "requirements_test.txt").read_text().splitlines()
    assert PLAYWRIGHT_REQUIREMENT in pinned


def test_render_pipeline_imports_without_home_assistant(tmp_path: Path) -> None:
    """The pipeline is installed by name and needs no Home Assistant, nor Playwright to import.

    Run from elsewhere than the repository: what answers is the installed package,
    whose files are the ones the integration ships in its folder.
    """
    run_python(
        "import sys, importlib, pkgutil\n"
        "sys.modules['homeassistant'] = None\n"
        "sys.modules['playwright'] = None\n"
        "import dashboard_cast_pipeline as library\n"
        f"assert library.__path__[0] == {str(INTEGRATION / 'dashboard_cast_pipeline')!r}\n"
        "names = [m.name for m in pkgutil.iter_modules(library.__path__)]\n"
        "assert len(names) > 10, names\n"
        "for name in names:\n"
        "    importlib.import_module('dashboard_cast_pipeline.' + name)\n"
        "import dashboard_cast_renderer.addon, dashboard_cast_renderer.__main__\n",
        cwd=tmp_path,
    )


async def test_without_playwright_loads_raises_repair_and_refuses_starts(
    hass: HomeAssistant,
    no_playwright: None,
    available_player: str,  # noqa: F811
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    """The entry loads; a repair says what to install; a start fails with that, nothing starts."""
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "playwright_missing")
    assert issue is not None
    assert issue.translation_placeholders == {"requirement": PLAYWRIGHT_REQUIREMENT}

    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN, "start", {"entity_id": available_player}, blocking=True
        )
    assert err.value.translation_key == "no_renderer"
    assert PLAYWRIGHT_REQUIREMENT in str(err.value)
    assert_nothing_started(hass, available_player)

    client = await hass_client_no_auth()
    response = await client.post("/api/webhook/living-room-webhook", json={"action": "start"})
    assert response.status == 503
    assert "Playwright" in (await response.json())["message"]
    assert_nothing_started(hass, available_player)


async def test_with_playwright_no_repair(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    available_player: str,  # noqa: F811
) -> None:
    """Where Playwright is installed, the in-process renderer is used and no repair shows."""
    assert ir.async_get(hass).async_get_issue(DOMAIN, "playwright_missing") is None
    assert config_entry.runtime_data.streamer.can_render
