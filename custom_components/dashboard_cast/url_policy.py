"""Who may show what, and where pages and status callbacks may connect.

- A dashboard path of this instance: everyone who may start. The page renders
  as the read-only system user, so a stream shows what that user may see.
- Any other http(s) page: an administrator (or an automation or script, which
  an administrator wrote), or anyone when its origin is on the entry's
  allow-list. A webhook caller is nobody in particular: allow-list only.
- Where the page connects (every request and redirect, enforced in the browser
  by dashboard_cast_pipeline.egress): public addresses, Home Assistant for its
  own dashboards, and the allow-listed origins. Never other loopback, LAN or
  link-local addresses.
- A callback_url: public addresses and allow-listed origins, checked on the
  address actually connected to.
"""

from __future__ import annotations

from typing import Any

from yarl import URL

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .const import CONF_ALLOWED_ORIGINS, DOMAIN
from .dashboard_cast_pipeline.egress import EgressPolicy, origin_endpoint
from .dashboard_cast_pipeline.page import is_url


class InvalidOriginError(ValueError):
    """Not an http(s) origin: scheme, host and optional port, nothing else."""


def normalize_origin(value: str) -> str:
    """An allow-list entry in canonical form (scheme://host:port), or InvalidOriginError."""
    text = value.strip().rstrip("/")
    try:
        url = URL(text)
    except ValueError as err:
        raise InvalidOriginError(text) from err
    if (
        url.scheme not in ("http", "https")
        or not url.host
        or url.path not in ("", "/")
        or url.query_string
        or url.fragment
        or url.user is not None
    ):
        raise InvalidOriginError(text)
    return str(url.origin())


def allowed_origins(entry: ConfigEntry[Any]) -> list[str]:
    """The entry's allow-list of origins."""
    return list(entry.options.get(CONF_ALLOWED_ORIGINS) or [])


def egress_policy(entry: ConfigEntry[Any]) -> EgressPolicy:
    """Public addresses and the allow-listed origins (Home Assistant's own is added per page)."""
    return EgressPolicy.allowing(allowed_origins(entry))


def _origin(url: str) -> str:
    return str(URL(url).origin())


def is_allow_listed(entry: ConfigEntry[Any], url: str) -> bool:
    """Tell whether an http(s) URL's origin is on the entry's allow-list."""
    return _origin(url) in allowed_origins(entry)


async def async_caller_is_trusted(hass: HomeAssistant, user_id: str | None) -> bool:
    """An administrator, or Home Assistant itself (an automation or script: no user)."""
    if user_id is None:
        return True
    user = await hass.auth.async_get_user(user_id)
    return user is not None and user.is_admin


def check_may_show(entry: ConfigEntry[Any], dashboard: str, *, trusted: bool) -> None:
    """Raise a translated error unless the caller may show this dashboard (normalized)."""
    if not is_url(dashboard) or trusted or is_allow_listed(entry, dashboard):
        return
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="url_not_allowed",
        translation_placeholders={"origin": _origin(dashboard)},
    )


def check_callback_url(entry: ConfigEntry[Any], url: str) -> None:
    """Refuse a callback to a literal address on loopback or the LAN, unless allow-listed.

    A host name is checked where it counts: on the addresses it resolves to
    when the status is delivered (status_callback.py).
    """
    if is_allow_listed(entry, url):
        return
    host, port = origin_endpoint(_origin(url))
    try:
        egress_policy(entry).check_literal(host, port)
    except OSError:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="callback_not_allowed",
            translation_placeholders={"origin": _origin(url)},
        ) from None
