"""What a user may name as a dashboard: a path of this instance or an http(s) URL."""

from __future__ import annotations

import re

from yarl import URL

# A dashboard url_path and optional view, e.g. "lovelace/0" or "dashboard-tv/kitchen".
_DASHBOARD_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")
MAX_LENGTH = 2048


class InvalidDashboardError(ValueError):
    """The value names neither a dashboard path nor an http(s) URL."""


def normalize_dashboard(value: object) -> str:
    """Return the dashboard in canonical form, or raise InvalidDashboardError.

    Paths lose surrounding slashes and white space; URLs must be absolute http(s)
    with a host. Anything else (file:, javascript:, data:, ...) is refused.
    """
    if not isinstance(value, str):
        raise InvalidDashboardError("not a string")
    text = value.strip()
    if not text or len(text) > MAX_LENGTH:
        raise InvalidDashboardError("empty or too long")
    if "://" in text or ":" in text.split("/", 1)[0]:
        try:
            url = URL(text)
        except ValueError as err:
            raise InvalidDashboardError("not a URL") from err
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidDashboardError("only http and https URLs are accepted")
        return str(url)
    path = text.strip("/")
    if not _DASHBOARD_PATH.fullmatch(path):
        raise InvalidDashboardError("not a dashboard path")
    return path


def is_url(dashboard: str) -> bool:
    """Tell whether a normalized dashboard is an absolute URL."""
    return dashboard.startswith(("http://", "https://"))
