"""What the renderer service and the integration agree on, in one place."""

from __future__ import annotations

from typing import Final

# Every call carries Authorization: Bearer <secret>; the stream's own files do not.
API_PREFIX: Final = "/api/renderer"
# Supervisor discovery: the integration whose config flow takes the add-on's
# announcement up (Home Assistant's domain of Dashboard Cast).
DISCOVERY_SERVICE: Final = "dashboard_cast"
