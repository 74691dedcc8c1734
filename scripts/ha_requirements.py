"""Print the Python requirements Home Assistant itself would install for this project.

A real Home Assistant installs, on its first start, the requirements of the
integrations it always loads (bootstrap's default and frontend integrations)
and of those an integration depends on. The test harness installs none of
them, so tests would pass or fail depending on what an earlier `hass` run left
in the environment. scripts/setup installs this list up front instead, pinned
by Home Assistant's manifests and its package constraints.
"""

from __future__ import annotations

import json
from pathlib import Path
import sys

from homeassistant import bootstrap
import homeassistant.components

REPO = Path(__file__).resolve().parent.parent
COMPONENTS = Path(homeassistant.components.__path__[0])
OWN_MANIFEST = REPO / "custom_components" / "dashboard_cast" / "manifest.json"


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


def main() -> int:
    """Print one requirement per line."""
    own = json.loads(OWN_MANIFEST.read_text())
    roots = (
        set(bootstrap.CORE_INTEGRATIONS)
        | set(bootstrap.LOGGING_AND_HTTP_DEPS_INTEGRATIONS)
        | set(bootstrap.FRONTEND_INTEGRATIONS)
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | set(own.get("dependencies", []))
        | set(own.get("after_dependencies", []))
    )
    print("\n".join(requirements(roots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
