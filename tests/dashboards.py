"""Stored dashboards, as the frontend would save them."""

from __future__ import annotations

from typing import Any

TEST_DASHBOARD = "dashboard-test"
TEST_TITLE = "Test board"
VIEWS = [
    {"title": "Kitchen", "path": "kitchen", "cards": [{"type": "markdown", "content": "Hi"}]},
    {"title": "Hall", "cards": [{"type": "markdown", "content": "There"}]},
]
# Views that fill the screen with one colour each, for tests that read the picture.
COLOUR_DASHBOARD = "dashboard-colours"
COLOUR_TITLE = "Colours"
COLOUR_VIEWS = [
    {"title": "Red", "path": "red", "background": "#ff0000", "cards": []},
    {"title": "Blue", "path": "blue", "background": "#0000ff", "cards": []},
]


def store_dashboards(hass_storage: dict[str, Any], *boards: tuple[str, str, list[Any]]) -> None:
    """Put dashboards (url_path, title, views) into storage before lovelace is set up."""
    items = []
    for url_path, title, views in boards:
        board_id = url_path.replace("-", "_")
        items.append(
            {
                "id": board_id,
                "url_path": url_path,
                "title": title,
                "icon": "mdi:test-tube",
                "show_in_sidebar": True,
                "require_admin": False,
                "mode": "storage",
            }
        )
        hass_storage[f"lovelace.{board_id}"] = {
            "version": 1,
            "minor_version": 1,
            "key": f"lovelace.{board_id}",
            "data": {"config": {"title": title, "views": views}},
        }
    hass_storage["lovelace_dashboards"] = {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace_dashboards",
        "data": {"items": items},
    }


def store_test_dashboard(hass_storage: dict[str, Any]) -> None:
    """Put the test dashboard into storage before lovelace is set up."""
    store_dashboards(hass_storage, (TEST_DASHBOARD, TEST_TITLE, VIEWS))


def store_colour_dashboard(hass_storage: dict[str, Any]) -> None:
    """Put the colour dashboard into storage before lovelace is set up."""
    store_dashboards(hass_storage, (COLOUR_DASHBOARD, COLOUR_TITLE, COLOUR_VIEWS))
