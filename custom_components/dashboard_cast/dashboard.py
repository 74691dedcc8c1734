"""What a user may name as a dashboard: a path of this instance or an http(s) URL."""

from __future__ import annotations

from dataclasses import dataclass
import re

from yarl import URL

from homeassistant.components.lovelace.const import LOVELACE_DATA
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from .dashboard_cast_pipeline.page import is_url

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


@dataclass(frozen=True, slots=True)
class DashboardInfo:
    """A dashboard of this instance, as the media player lists it."""

    url_path: str
    title: str


DEFAULT_URL_PATH = "lovelace"
DEFAULT_TITLE = "Overview"


def list_dashboards(hass: HomeAssistant) -> list[DashboardInfo]:
    """The dashboards of this instance: the default one first, then by title."""
    data = hass.data.get(LOVELACE_DATA)
    found = [DashboardInfo(DEFAULT_URL_PATH, DEFAULT_TITLE)]
    if data is None:
        return found
    others = [
        DashboardInfo(url_path, str((dashboard.config or {}).get("title") or url_path))
        for url_path, dashboard in data.dashboards.items()
        if url_path is not None
    ]
    return found + sorted(others, key=lambda info: info.title.casefold())


def dashboard_title(hass: HomeAssistant, dashboard: str) -> str:
    """A human title: the dashboard's own, or the URL's host for another site."""
    if is_url(dashboard):
        return URL(dashboard).host or dashboard
    url_path = dashboard.split("/", 1)[0]
    for info in list_dashboards(hass):
        if info.url_path == url_path:
            return info.title
    return url_path


async def async_list_views(hass: HomeAssistant, url_path: str) -> list[DashboardInfo]:
    """The views of a dashboard as paths under it; none if it has no stored views."""
    data = hass.data.get(LOVELACE_DATA)
    if data is None:
        return []
    dashboard = data.dashboards.get(None if url_path == DEFAULT_URL_PATH else url_path)
    if dashboard is None:
        return []
    try:
        config = await dashboard.async_load(False)
    except HomeAssistantError:
        return []  # not configured yet: the frontend generates it
    views = config.get("views") or []
    return [
        DashboardInfo(
            f"{url_path}/{view.get('path') or index}",
            str(view.get("title") or view.get("path") or index),
        )
        for index, view in enumerate(views)
        if isinstance(view, dict)
    ]


async def async_page_title(hass: HomeAssistant, page: str) -> str:
    """A page's title: its dashboard's, and its view's where that has one of its own."""
    title = dashboard_title(hass, page)
    if is_url(page) or "/" not in page:
        return title
    url_path, view = page.split("/")[:2]
    for info in await async_list_views(hass, url_path):
        if info.url_path == f"{url_path}/{view}" and info.title != title:
            return f"{title}: {info.title}"
    return title
