"""Run the renderer service.

    DASHBOARD_CAST_RENDERER_SECRET=<at least 16 characters> python -m dashboard_cast_renderer

The secret comes from the environment, never the command line, which every
user of the machine can read; so may a browser endpoint with a token
(DASHBOARD_CAST_CDP_URL, or --cdp-url where no one else can read it).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
import ssl
import sys

from aiohttp import web

from dashboard_cast_pipeline.browser import BrowserPool
from dashboard_cast_pipeline.server import DEFAULT_SESSION_TTL, DEFAULT_WORK_DIR, RendererService

SECRET_VARIABLE = "DASHBOARD_CAST_RENDERER_SECRET"  # noqa: S105 - the name, not a secret
CDP_URL_VARIABLE = "DASHBOARD_CAST_CDP_URL"


def main() -> None:
    """Parse the command line and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m dashboard_cast_renderer")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on: the one Home Assistant and the cast devices reach"
        " (default: this machine only)",
    )
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--chromium", help="Chromium binary (default: found on PATH)")
    parser.add_argument(
        "--cdp-url",
        default=os.environ.get(CDP_URL_VARIABLE) or None,
        help="drive a running browser through this DevTools endpoint instead of launching one"
        f" (a URL with a token is better given in {CDP_URL_VARIABLE})",
    )
    parser.add_argument("--ffmpeg", default="ffmpeg", help="FFmpeg binary")
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK_DIR,
        help="folder of the streams, this service's alone (emptied at start and stop)",
    )
    parser.add_argument(
        "--session-ttl",
        type=float,
        default=DEFAULT_SESSION_TTL,
        help="stop a session nobody asked after for this many seconds (its Home Assistant is gone)",
    )
    parser.add_argument(
        "--certfile",
        type=Path,
        help="serve https with this certificate (PEM): Home Assistant then sends dashboards'"
        " logins to a renderer on another machine",
    )
    parser.add_argument("--keyfile", type=Path, help="the certificate's private key (PEM)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    secret = os.environ.get(SECRET_VARIABLE, "")
    try:
        service = RendererService(
            secret,
            BrowserPool(args.chromium, cdp_url=args.cdp_url, temp_dir=args.work_dir / "browser"),
            args.ffmpeg,
            args.work_dir,
            args.session_ttl,
        )
    except ValueError as err:
        sys.exit(f"{SECRET_VARIABLE}: {err}")
    tls = None
    if args.certfile is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile)
    web.run_app(service.app(), host=args.host, port=args.port, ssl_context=tls, print=None)


if __name__ == "__main__":
    main()
