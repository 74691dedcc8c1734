"""The add-on's files agree with the code and with what the tests run.

Docker is not available here, so the image itself is built and run by
scripts/addon_image (without Docker); these checks guard what a Supervisor build
would read.
"""

from __future__ import annotations

from importlib import metadata
import json
from pathlib import Path
import re

import yaml

from custom_components.dashboard_cast.const import DOMAIN
from dashboard_cast_renderer import addon

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "addon"


def _yaml(path: Path) -> dict:  # type: ignore[type-arg]
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_repository_lists_the_addon() -> None:
    """The add-on store finds the repository and the add-on's folder."""
    repository = _yaml(REPO / "repository.yaml")
    assert repository["name"]
    assert repository["url"].startswith("https://github.com/")
    assert (ADDON / "config.yaml").exists()


def test_config_matches_the_code() -> None:
    """Version, discovery, network, options: what addon.py and the integration expect."""
    config = _yaml(ADDON / "config.yaml")
    manifest = json.loads((REPO / "custom_components/dashboard_cast/manifest.json").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    assert config["version"] == manifest["version"]
    assert f'version = "{config["version"]}"' in pyproject
    assert config["slug"] == "dashboard_cast_renderer"
    assert config["discovery"] == [DOMAIN] == [addon.DISCOVERY_SERVICE]
    assert config["hassio_api"] is True  # network information and discovery
    assert config["host_network"] is True  # cast devices pull from the host's address
    assert set(config["arch"]) <= {"amd64", "aarch64", "armv7"}
    assert config["options"] == {"port": addon.DEFAULT_PORT, "log_level": "info"}
    assert set(config["schema"]) == {"port", "secret", "cdp_url", "log_level"}
    assert set(config["options"]) <= set(config["schema"])
    translated = _yaml(ADDON / "translations/en.yaml")["configuration"]
    assert set(translated) == set(config["schema"])
    assert all(entry["name"] and entry["description"] for entry in translated.values())


def test_build_covers_every_arch() -> None:
    """Every listed arch has a base image."""
    config, build = _yaml(ADDON / "config.yaml"), _yaml(ADDON / "build.yaml")
    assert set(build["build_from"]) == set(config["arch"])


def test_image_runs_what_the_tests_run() -> None:
    """Pinned requirements are the versions installed here; the command is the entry point."""
    pins = dict(
        line.split("==")
        for line in (ADDON / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pins == {name: metadata.version(name) for name in pins}
    assert {"aiohttp", "playwright", "voluptuous", "yarl"} <= set(pins)
    dockerfile = (ADDON / "Dockerfile").read_text()
    assert '"-m", "dashboard_cast_renderer.addon"' in dockerfile
    assert "v${BUILD_VERSION}.tar.gz" in dockerfile
    for folder in re.findall(r"'\*/([\w/]+)'", dockerfile):
        assert (REPO / folder).is_dir(), folder
    for package in ("chromium", "ffmpeg", "python3.14"):
        assert re.search(rf"\s{re.escape(package)}\s", dockerfile), package
