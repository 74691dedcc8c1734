"""Let the test harness's 2026.10 release run on a newer Home Assistant.

pytest-homeassistant-custom-component is released for each Home Assistant
release some time after it. scripts/test loads this module first
(``-p tests.ha_compat``) when it runs the suite on the newest Home Assistant,
for which the harness has no release yet. It adapts the harness only, never the
integration: each line names the change it bridges.
"""

from __future__ import annotations

# 2026.11 aliases httpx when homeassistant is imported and refuses to if httpx
# came first; the harness imports respx, and with it httpx, before Home Assistant.
import homeassistant  # noqa: F401
from homeassistant.components import logger

# 2026.11 moved _clear_logger_overwrites into logger/helpers.py; the harness
# imports it from the component.
if not hasattr(logger, "_clear_logger_overwrites"):
    from homeassistant.components.logger.helpers import _clear_logger_overwrites

    logger._clear_logger_overwrites = _clear_logger_overwrites  # type: ignore[attr-defined]
