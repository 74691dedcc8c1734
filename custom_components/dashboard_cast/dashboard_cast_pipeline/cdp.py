"""A browser that runs elsewhere, reached through its DevTools (CDP) endpoint.

Browser services such as browserless name a browser by a URL with a token
(``ws://host:3000/chromium?token=…``), start a browser for each connection and
end the connection after a job timeout (browserless: 30 s unless the URL's
``timeout`` says otherwise, 0 for none). A stream runs for hours on one
connection, so we ask for no timeout unless the URL names its own. Their
``/json/version`` answers with a websocket address without the token, so an
``http://`` URL is resolved here, the token carried over. A browser's own
endpoint (``/devtools/browser/<id>``, Chromium's ``--remote-debugging-port``) is
used as it is. Its token is a credential: logs show the URL redacted.

Imports nothing of Home Assistant: the renderer service uses it too.
"""

from __future__ import annotations

import asyncio

import aiohttp
from yarl import URL

from .redact import text_for_logs, url_secrets

CHECK_TIMEOUT = 5.0
BROWSER_OWN_PATH = "/devtools/"
WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}


class CdpError(Exception):
    """The DevTools endpoint cannot be used; the message is safe to log."""


def _without_job_timeout(url: URL) -> URL:
    if url.path.startswith(BROWSER_OWN_PATH) or "timeout" in url.query:
        return url
    return url.update_query(timeout="0")


def _version_url(url: URL) -> URL:
    """Where the endpoint tells its browser and websocket address, with the same token."""
    scheme = WEBSOCKET_SCHEMES.get(url.scheme, url.scheme)
    return url.with_scheme(scheme).with_path("/json/version").with_query(url.query)


async def browser_version(http: aiohttp.ClientSession, url: str) -> dict[str, str]:
    """The endpoint's /json/version: proves it answers and takes the token; CdpError if not."""
    parsed = URL(url)
    try:
        async with (
            asyncio.timeout(CHECK_TIMEOUT),
            http.get(_version_url(parsed), allow_redirects=False) as response,
        ):
            if response.status in (401, 403):
                raise CdpError("the browser endpoint refused the token")
            if response.status != 200:
                raise CdpError(f"the browser endpoint answered {response.status}")
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        reason = text_for_logs(str(err) or type(err).__name__, url_secrets(url))
        raise CdpError(f"the browser endpoint does not answer: {reason}") from err
    if not isinstance(answer, dict) or not isinstance(answer.get("webSocketDebuggerUrl"), str):
        raise CdpError("not a DevTools endpoint: /json/version has no webSocketDebuggerUrl")
    return answer


async def websocket_url(http: aiohttp.ClientSession, url: str) -> str:
    """The address to connect to for a long-lived browser session."""
    parsed = URL(url)
    if parsed.scheme in WEBSOCKET_SCHEMES:
        return str(_without_job_timeout(parsed))
    announced = URL((await browser_version(http, url))["webSocketDebuggerUrl"])
    return str(_without_job_timeout(announced.update_query(parsed.query)))
