"""The add-on's files agree with the code, with what the tests run, and with Supervisor.

Docker is not available here, so the image itself is built and run by
scripts/addon_image (without Docker); these checks guard what a Supervisor build
would read. Supervisor's own rules are restated here from its source
(supervisor/apps/validate.py and build.py, 2026.08), and frenck's add-on linter's
(src/lint.py, v2.21), so a change that either would refuse fails a test.
"""

from __future__ import annotations

from importlib import metadata
import json
from pathlib import Path
import re
import tomllib

from PIL import Image
import yaml

from custom_components.dashboard_cast.const import DOMAIN
from dashboard_cast_renderer import addon

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "addon"

# Supervisor's RE_DOCKER_IMAGE_BUILD: a build_from value needs a namespace
# ("debian:forky-slim" fails; Supervisor then builds from its Alpine default).
SUPERVISOR_BUILD_IMAGE = re.compile(
    r"^([a-zA-Z\-\.:\d{}]+/)*?([\-\w{}]+)/([\-\w{}]+)(:[\.\-\w{}]+)?$"
)
SUPERVISOR_SLUG = re.compile(r"^[-_.A-Za-z0-9]+$")
SUPERVISOR_REQUIRED = {"name", "version", "slug", "description", "arch"}
SUPERVISOR_ARCHES = {"amd64", "aarch64"}  # armhf, armv7 and i386 are deprecated
# Keys Supervisor ignores or migrates with a warning, and the linter refuses.
DEPRECATED_KEYS = {"advanced", "codenotary", "auto_uart", "watchdog", "squash"}
# The linter fails a key set to Supervisor's default ("should be removed").
CONFIG_DEFAULTS = {
    "advanced": False, "apparmor": True, "audio": False, "auth_api": False, "backup": "hot",
    "boot": "auto", "devicetree": False, "docker_api": False, "full_access": False,
    "gpio": False, "hassio_api": False, "hassio_role": "default", "homeassistant_api": False,
    "host_dbus": False, "host_ipc": False, "host_network": False, "host_pid": False,
    "host_uts": False, "ingress": False, "ingress_port": 8099, "ingress_stream": False,
    "init": True, "journald": False, "kernel_modules": False, "legacy": False, "options": {},
    "panel_admin": True, "panel_icon": "mdi:puzzle", "realtime": False, "schema": {},
    "stage": "stable", "startup": "application", "stdin": False, "timeout": 10, "tmpfs": False,
    "uart": False, "udev": False, "ulimits": {}, "usb": False, "video": False,
}  # fmt: skip


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


def test_supervisor_accepts_the_addon() -> None:
    """Supervisor's and the linter's rules: required keys, no defaults, nothing deprecated."""
    config = _yaml(ADDON / "config.yaml")
    assert set(config) >= SUPERVISOR_REQUIRED
    assert SUPERVISOR_SLUG.match(config["slug"])
    assert set(config["arch"]) <= SUPERVISOR_ARCHES
    assert not DEPRECATED_KEYS & set(config)
    at_default = {key for key, value in config.items() if CONFIG_DEFAULTS.get(key, ...) == value}
    assert not at_default, f"the linter wants these removed: {at_default}"
    assert isinstance(config.get("tmpfs", False), bool)  # the old string form is deprecated


def test_image_base_is_named_in_the_dockerfile() -> None:
    """No build.yaml (deprecated): the Dockerfile names its base and takes no BUILD_FROM.

    Without build.yaml Supervisor passes no BUILD_FROM; an older Supervisor
    passes its Alpine default, which a Dockerfile using BUILD_FROM would build on.
    """
    assert not [path.name for path in ADDON.glob("build.*")]
    dockerfile = (ADDON / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert len(bases) == 1
    assert not re.search(r"^ARG\s+BUILD_FROM", dockerfile, re.MULTILINE)
    assert SUPERVISOR_BUILD_IMAGE.match(bases[0]), bases[0]
    assert bases[0].startswith("docker.io/library/debian:forky")  # what addon_image builds


def test_store_images() -> None:
    """The add-on store's tile and page: a square icon and a wide logo."""
    with Image.open(ADDON / "icon.png") as icon:
        assert icon.format == "PNG"
        assert icon.size == (128, 128)
    with Image.open(ADDON / "logo.png") as logo:
        assert logo.format == "PNG"
        assert logo.width > logo.height
        assert logo.width <= 250
        assert logo.height <= 100


def test_image_runs_what_the_tests_run() -> None:
    """Pinned requirements are the versions installed here; the command is the entry point."""
    pins = dict(
        line.split("==")
        for line in (ADDON / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert pins == {name: metadata.version(name) for name in pins}
    assert {"aiohttp", "playwright", "probatio", "yarl"} <= set(pins)
    dockerfile = (ADDON / "Dockerfile").read_text()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert '"-m", "dashboard_cast_renderer.addon"' in dockerfile
    assert "v${BUILD_VERSION}.tar.gz" in dockerfile
    # The image installs the library and the service by name from the archive.
    assert "pip install --no-cache-dir --no-deps /tmp/source" in dockerfile
    assert "playwright" in pyproject["project"]["optional-dependencies"]["browser"][0]
    assert set(pyproject["tool"]["setuptools"]["packages"]) == {
        "dashboard_cast_pipeline",
        "dashboard_cast_renderer",
    }
    for package in ("chromium-headless-shell", "chromium-sandbox", "ffmpeg", "python3.14"):
        assert re.search(rf"\s{re.escape(package)}\s", dockerfile), package
