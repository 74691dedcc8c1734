"""Dashboard Cast's render pipeline as a service outside Home Assistant.

Run it with: python -m dashboard_cast_renderer (see __main__.py).

The pipeline modules live in the integration's folder, the one folder HACS
installs; this package loads them from there (or from DASHBOARD_CAST_PIPELINE,
where an image keeps its copy) without the integration's __init__, which needs
Home Assistant. They import each other relatively, so they run under this name.
"""

from __future__ import annotations

import os
from pathlib import Path

__path__.append(
    os.environ.get(
        "DASHBOARD_CAST_PIPELINE",
        str(Path(__file__).resolve().parent.parent / "custom_components" / "dashboard_cast"),
    )
)
