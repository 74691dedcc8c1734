"""A stored dashboard with two views, as the frontend would save it."""

from __future__ import annotations

from typing import Any

TEST_DASHBOARD = "dashboard-test"
TEST_TITLE = "Test board"
VIEWS = [
    {"title": "Kitchen", "path": "kitchen", "cards": [{"type": "markdown", "content": "Hi"}]},
    {"title": "Hall", "cards": [{"type": "markdown", "content": "There"}]},
]


def store_test_dashboard(hass_storage: dict[str, Any]) -> None:
    """Put the dashboard into storage before lovelace is set up."""
    hass_storage["lovelace_dashboards"] = {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace_dashboards",
        "data": {
            "items": [
                {
                    "id": "dashboard_test",
                    "url_path": TEST_DASHBOARD,
                    "title": TEST_TITLE,
                    "icon": "mdi:test-tube",
                    "show_in_sidebar": True,
                    "require_admin": False,
                    "mode": "storage",
                }
            ]
        },
    }
    hass_storage["lovelace.dashboard_test"] = {
        "version": 1,
        "minor_version": 1,
        "key": "lovelace.dashboard_test",
        "data": {"config": {"title": TEST_TITLE, "views": VIEWS}},
    }
