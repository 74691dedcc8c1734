"""Print the Python requirements Home Assistant itself would install for this project.

A real Home Assistant installs, on its first start, the requirements of the
integrations it always loads (bootstrap's default and frontend integrations)
and of those an integration depends on. The test harness installs none of
them, so tests would pass or fail depending on what an earlier `hass` run left
in the environment. scripts/setup installs this list up front instead, pinned
by Home Assistant's manifests and its package constraints.

--replace FILE: a requirement named in FILE is printed as FILE has it (a pin
the package index cannot satisfy, replaced by the newest release it has).

--harness: print instead the requirements of the installed
pytest-homeassistant-custom-component, adapted to the installed Home
Assistant: a package Home Assistant requires or constrains, or one already
installed (an integration's requirement), keeps the version it has. Used for
a Home Assistant newer than any release of the harness (the harness is
installed without its dependencies first).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
from pathlib import Path
import re
import sys

from homeassistant import bootstrap
import homeassistant.components

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = Path(homeassistant.components.__path__[0])
OWN_MANIFEST = REPO / "custom_components" / "dashboard_cast" / "manifest.json"
CONSTRAINTS = Path(homeassistant.__file__).parent / "package_constraints.txt"
HARNESS = "pytest-homeassistant-custom-component"
# Core integrations the tests set up as a user's instance has them: live
# cameras on a dashboard (a generic camera's HLS through the stream
# integration, an MJPEG camera).
TESTED_WITH = {"generic", "mjpeg", "stream"}


def name_of(requirement: str) -> str:
    """A requirement's normalized project name ("PyChromecast==1" -> "pychromecast")."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def lines_of(path: Path) -> list[str]:
    """A requirements file's requirements, comments and blank lines dropped."""
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]


def manifest(domain: str) -> dict[str, object] | None:
    """A core integration's manifest, or None if there is no such integration."""
    path = COMPONENTS / domain / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def requirements(roots: set[str]) -> list[str]:
    """Requirements of the roots and everything they depend on, sorted and unique."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        domain = pending.pop()
        if domain in seen:
            continue
        seen.add(domain)
        data = manifest(domain)
        if data is None:
            continue
        found.update(data.get("requirements", []))  # type: ignore[arg-type]
        for key in ("dependencies", "after_dependencies"):
            pending.extend(data.get(key, []))  # type: ignore[arg-type]
    return sorted(found)


def harness_requirements() -> list[str]:
    """The installed harness's requirements, Home Assistant's own versions winning."""
    home_assistant = {name_of(r) for r in importlib.metadata.requires("homeassistant") or []}
    constrained = {name_of(line) for line in lines_of(CONSTRAINTS)}
    installed = {name_of(dist.metadata["Name"]) for dist in importlib.metadata.distributions()}
    kept = []
    for requirement in importlib.metadata.requires(HARNESS) or []:
        name = name_of(requirement)
        if name == "homeassistant":
            continue
        kept.append(name if name in home_assistant | constrained | installed else requirement)
    return kept


def main() -> int:
    """Print one requirement per line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--replace", type=Path)
    parser.add_argument("--harness", action="store_true")
    args = parser.parse_args()
    if args.harness:
        print("\n".join(harness_requirements()))
        return 0
    replacements = {name_of(line): line for line in lines_of(args.replace)} if args.replace else {}
    own = json.loads(OWN_MANIFEST.read_text())
    roots = (
        set(bootstrap.CORE_INTEGRATIONS)
        | set(bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS)
        | set(bootstrap.FRONTEND_INTEGRATIONS)
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | set(own.get("dependencies", []))
        | set(own.get("after_dependencies", []))
        | TESTED_WITH
    )
    print("\n".join(replacements.get(name_of(r), r) for r in requirements(roots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
