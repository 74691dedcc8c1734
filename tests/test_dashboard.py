"""What counts as a dashboard."""

from __future__ import annotations

import pytest

from custom_components.dashboard_cast.dashboard import (
    InvalidDashboardError,
    is_url,
    normalize_dashboard,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("lovelace/0", "lovelace/0"),
        ("/lovelace/0/", "lovelace/0"),
        ("  dashboard-tv  ", "dashboard-tv"),
        ("dashboard-tv/kitchen.v2", "dashboard-tv/kitchen.v2"),
        ("http://192.168.1.5:8080/page", "http://192.168.1.5:8080/page"),
        ("HTTPS://Example.COM/a?b=c#d", "https://example.com/a?b=c#d"),
    ],
)
def test_valid(given: str, expected: str) -> None:
    """Paths are trimmed; URLs keep everything but lose case in scheme and host."""
    assert normalize_dashboard(given) == expected
    assert is_url(expected) == expected.startswith("http")


@pytest.mark.parametrize(
    "given",
    [
        None,
        42,
        ["lovelace"],
        "",
        "x" * 2049,
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "file:///etc/passwd",
        "data:text/html;base64,PGgxPng8L2gxPg==",
        "chrome://gpu",
        "about:blank",
        "ws://host/",
        "http://",
        "http://[::1",
        "https:///path-only",
        "../etc/passwd",
        "lovelace/../secret",
        "lovelace/<script>",
        "lovelace?edit=1",
        "日本語",
        "\x00",
    ],
)
def test_invalid(given: object) -> None:
    """Anything but a plain path or an absolute http(s) URL is refused."""
    with pytest.raises(InvalidDashboardError):
        normalize_dashboard(given)
