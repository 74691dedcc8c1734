"""Dashboard Cast's render pipeline: a web page into a live HLS stream, with no Home Assistant.

Chromium (through Playwright, the optional ``browser`` extra) renders the page,
FFmpeg encodes it, and the HLS files are served to the cast device. The same
pipeline runs inside Home Assistant (the integration ships this package in its
folder) and in the renderer service and add-on (which install it by name,
``pip install dashboard-cast[browser]``), driven through ``server`` and ``client``.
Nothing here may import Home Assistant (ruff's TID251, ruff.toml beside this file).
"""
