"""What may be shown of URLs and messages: in logs, diagnostics, answers and events.

A dashboard URL may carry a password or a token, a browser endpoint a token,
and a stream URL is itself a secret (its 128-bit token). One redactor for all.
"""

from __future__ import annotations

import re

from yarl import URL

HIDDEN = "***"
# user:password@ in any URL inside free text.
_CREDENTIALS = re.compile(r"(?<=//)[^/@\s]+@")
# The query of any URL inside free text (a signed URL's signature, a token).
_URL_QUERY = re.compile(r"(\w+://[^\s?#]*)\?\S*")
# A stream token (128 bits as hex), wherever it appears.
_STREAM_TOKEN = re.compile(r"\b[0-9a-f]{32}\b")


def url_for_logs(url: str) -> str:
    """The URL without its user and password, the values of its query and its fragment."""
    try:
        parsed = URL(url)
    except ValueError:
        return "<invalid URL>"
    if parsed.absolute:
        parsed = parsed.with_user(None).with_password(None)
    if parsed.query:
        parsed = parsed.with_query(dict.fromkeys(parsed.query, HIDDEN))
    return str(parsed.with_fragment(None))


def url_secrets(url: str) -> list[str]:
    """The parts of a URL that are secret: its password and the values of its query."""
    try:
        parsed = URL(url)
    except ValueError:
        return []
    return [secret for secret in (parsed.password, *parsed.query.values()) if secret]


def text_for_logs(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Free text (an error message) without secrets: of URLs, stream tokens, those given."""
    for secret in secrets:
        text = text.replace(secret, HIDDEN)
    text = _URL_QUERY.sub(rf"\1?{HIDDEN}", _CREDENTIALS.sub(HIDDEN + "@", text))
    return _STREAM_TOKEN.sub(HIDDEN, text)
