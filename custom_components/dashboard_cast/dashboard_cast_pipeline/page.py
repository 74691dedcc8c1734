"""Open a dashboard (or any page) in its own browser context, logged in and kiosk-styled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
import ipaddress
import json
import logging
import math
from typing import TYPE_CHECKING, Any, Literal

from yarl import URL

from .capture import WAKE_BINDING
from .options import Theme

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, CDPSession, Page

_LOGGER = logging.getLogger(__name__)

# A zoomed page's window goes on a screen of its own whose pixel ratio is the
# zoom. Chromium captures a page at its window's size in its screen's pixels:
# on the one screen (ratio 1), a page zoomed 2x came out at half the stream's
# size, which FFmpeg's upscale made soft, and a page zoomed out was drawn at
# more pixels than the stream has. Screens are added to the browser as needed
# (Emulation.addScreen, the headless browsers'), one for each zoom, side by side.
ZOOM_SCREEN_LABEL = "dashboard-cast zoom %s"
# A screen's width and height in CSS pixels: room for the largest window.
ZOOM_SCREEN_SIZE = 4096
# Two pages starting at once must not both add a screen at the same place.
_screens_lock = asyncio.Lock()

# Runs before any script of the page. On Home Assistant's own origin it logs in
# the way Home Assistant's cast receiver does: hassTokens with an empty access
# token that has already expired, so the frontend refreshes it at once. Every
# shadow root (the frontend is made of them) gets our style sheet, kept even
# when a component replaces its own sheets. On the frame clock (capture.py),
# the page tells when it changed.
_INIT_SCRIPT = """
((config) => {
  if (config.auth && location.origin === config.auth.hassUrl) {
    localStorage.setItem("hassTokens", JSON.stringify({
      hassUrl: config.auth.hassUrl,
      clientId: null,
      refresh_token: config.auth.refreshToken,
      access_token: "",
      token_type: "Bearer",
      expires_in: 0,
      expires: 0,
    }));
    // Home Assistant's own kiosk mode, as the companion apps switch it
    // (kiosk_mode/set): no sidebar, no edit or search menus. The frontend
    // listens only once it is up: ask until it took.
    const kiosk = setInterval(() => {
      const app = document.querySelector("home-assistant");
      if (!app || !app.hass) return;
      if (app.hass.kioskMode) clearInterval(kiosk);
      else window.dispatchEvent(new CustomEvent("hass-kiosk-mode", { detail: { enable: true } }));
    }, 100);
  }
  if (config.screenCare && window === window.top) {
    let step = 0;
    setInterval(() => {
      step = (step + 1) %% config.screenCare.offsets.length;
      const [x, y] = config.screenCare.offsets[step];
      document.documentElement.style.setProperty("translate", `${x}px ${y}px`, "important");
    }, config.screenCare.seconds * 1000);
  }
  const onShadowRoot = [];
  if (config.wake) {
    // On the frame clock a still page renders about once a second; the page
    // says when it changed, and renders at once: a DOM change (also in a
    // shadow root), an animation frame it asks for, a loaded image or media.
    // Once a frame: the flag clears in the next rendered frame.
    const WAKE_EVENTS = [
      "load", "loadeddata", "playing", "seeked", "animationstart", "transitionstart",
    ];
    // The binding is there before the page's scripts (capture.py adds it
    // before navigating). Out of their reach, a page cannot call it in a
    // loop, only change itself, which wakes us once a frame. Its name stays
    // taken, so that adding it again for a reload's next document leaves
    // this one without it.
    const binding = window[config.wake];
    delete window[config.wake];
    Object.defineProperty(window, config.wake, { value: undefined });
    const nextFrame = window.requestAnimationFrame.bind(window);
    let asked = false;
    const wake = () => {
      if (asked || typeof binding !== "function") return;
      asked = true;
      nextFrame(() => { asked = false; });
      binding("");
    };
    window.requestAnimationFrame = (callback) => { wake(); return nextFrame(callback); };
    const watch = (root) => {
      new MutationObserver(wake).observe(root, {
        subtree: true, childList: true, attributes: true, characterData: true,
      });
      for (const type of WAKE_EVENTS) root.addEventListener(type, wake, true);
    };
    watch(document);
    onShadowRoot.push(watch);
  }
  if (config.css) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(config.css);
    const withOurs = (sheets) => (sheets.includes(sheet) ? sheets : [...sheets, sheet]);
    for (const proto of [Document.prototype, ShadowRoot.prototype]) {
      const desc = Object.getOwnPropertyDescriptor(proto, "adoptedStyleSheets");
      if (!desc) continue;
      Object.defineProperty(proto, "adoptedStyleSheets", {
        configurable: true,
        get() { return desc.get.call(this); },
        set(value) { desc.set.call(this, withOurs(value)); },
      });
    }
    onShadowRoot.push((root) => { root.adoptedStyleSheets = root.adoptedStyleSheets; });
    document.adoptedStyleSheets = document.adoptedStyleSheets;
  }
  if (!onShadowRoot.length) return;
  const attachShadow = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attachShadow.call(this, init);
    for (const handle of onShadowRoot) handle(root);
    return root;
  };
})(%s);
"""

# No header bar above the dashboard, and no room kept for it, as on a wall
# display: Home Assistant's kiosk mode hides the sidebar and the menus but
# keeps the header. The generated Overview (the home panel) also shows a
# welcome banner with a button under the header, and keeps room for it
# (--view-container-padding-top): nobody can press it on a TV.
KIOSK_CSS = """
:host(hui-root) .header, :host(hui-root) .toolbar { display: none !important; }
:host(hui-root) { --header-height: 0px !important; --view-container-padding-top: 0px !important; }
:host(ha-panel-home) .banner { display: none !important; }
"""
# Stop CSS animations and transitions: a static page costs almost nothing to
# capture and encode, a spinning one costs a lot.
REDUCE_MOTION_CSS = """
*, *::before, *::after {
  animation-duration: 0s !important; animation-iteration-count: 1 !important;
  transition: none !important; caret-color: transparent !important;
}
"""


# Screen care: the page's offset in CSS pixels, one step every few minutes. The
# background fills the viewport whatever the offset; a few pixels of content at
# one edge leave the picture for a while.
SCREEN_CARE_SECONDS = 180.0
SCREEN_CARE_OFFSETS = ((0, 0), (3, 0), (3, 3), (0, 3), (-3, 3), (-3, 0), (-3, -3), (0, -3), (3, -3))


def is_loopback(host: str) -> bool:
    """Tell whether a host is this machine's loopback (by address or as localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower().rstrip(".") == "localhost"


def is_url(dashboard: str) -> bool:
    """Tell whether a normalized dashboard is an absolute URL (else a dashboard path)."""
    return dashboard.startswith(("http://", "https://"))


COLOR_SCHEMES: dict[Theme, Literal["dark", "light"] | None] = {
    Theme.AUTO: None,
    Theme.DARK: "dark",
    Theme.LIGHT: "light",
}


@dataclass(frozen=True, slots=True)
class PageSpec:
    """What to open and how it should look."""

    url: str
    width: int  # output pixels
    height: int
    zoom: float = 1.0
    theme: Theme = Theme.AUTO
    reduce_motion: bool = True
    # Home Assistant's origin and the refresh token; None for other sites.
    hass_url: str | None = None
    refresh_token: str | None = None
    # The session's egress proxy (egress.py): every connection of the page goes through it.
    proxy: str | None = None
    # Move the whole picture by a few pixels every screen_care_seconds (burn-in).
    screen_care: bool = False
    screen_care_seconds: float | None = None  # None: SCREEN_CARE_SECONDS
    # The page renders on the frame clock: it tells when it changed (capture.WAKE_BINDING).
    frame_clock: bool = False

    @property
    def trusts_any_certificate(self) -> bool:
        """Home Assistant's own page over https on loopback, whose certificate names another host.

        Everything else has its certificate checked.
        """
        if self.hass_url is None or self.refresh_token is None:
            return False
        hass = URL(self.hass_url)
        return (
            hass.scheme == "https"
            and URL(self.url).origin() == hass.origin()
            and is_loopback(hass.host or "")
        )


def init_script(spec: PageSpec) -> str:
    """Return the script injected before the page's own scripts."""
    config: dict[str, Any] = {"css": ""}
    if spec.hass_url is not None and spec.refresh_token is not None:
        if URL(spec.url).origin() == URL(spec.hass_url).origin():
            config["auth"] = {"hassUrl": spec.hass_url, "refreshToken": spec.refresh_token}
        config["css"] += KIOSK_CSS
    if spec.reduce_motion:
        config["css"] += REDUCE_MOTION_CSS
    if spec.screen_care:
        config["screenCare"] = {
            "seconds": spec.screen_care_seconds or SCREEN_CARE_SECONDS,
            "offsets": SCREEN_CARE_OFFSETS,
        }
    if spec.frame_clock:
        config["wake"] = WAKE_BINDING
    return _INIT_SCRIPT % json.dumps(config)


async def async_open_page(
    browser: Browser,
    spec: PageSpec,
    before_navigation: Callable[[Page], Awaitable[None]] | None = None,
) -> tuple[BrowserContext, Page]:
    """Open the page in a new context of its own; the caller closes the context.

    Zoom is the device scale factor: the page is laid out zoom times smaller in
    CSS pixels and drawn at the full output size, so everything looks bigger,
    as sharp as at zoom 1 (_place_on_zoom_screen).
    before_navigation(page) runs on the blank page, before the page's own scripts.
    """
    context = await browser.new_context(
        viewport={"width": round(spec.width / spec.zoom), "height": round(spec.height / spec.zoom)},
        device_scale_factor=spec.zoom,
        color_scheme=COLOR_SCHEMES[spec.theme],
        reduced_motion="reduce" if spec.reduce_motion else "no-preference",
        ignore_https_errors=spec.trusts_any_certificate,
        service_workers="block",
        proxy=None if spec.proxy is None else {"server": spec.proxy},
    )
    try:
        await context.add_init_script(script=init_script(spec))
        page = await context.new_page()
        if spec.zoom != 1:
            await _place_on_zoom_screen(context, page, spec.zoom)
        if before_navigation is not None:
            await before_navigation(page)
        # Not "commit": the screencast must attach to the document that stays,
        # after any process swap of the navigation.
        await page.goto(spec.url, wait_until="domcontentloaded")
    except BaseException:
        await context.close()
        raise
    return context, page


async def _place_on_zoom_screen(context: BrowserContext, page: Page, zoom: float) -> None:
    """Move the blank page's window onto the screen for its zoom (ZOOM_SCREEN_LABEL).

    A browser without screens of its own (a headful one elsewhere) keeps the
    page where it is: the picture is still right, only softer when zoomed in.
    """
    # Imported here: only the in-process renderer needs Playwright.
    from playwright.async_api import Error as PlaywrightError  # noqa: PLC0415

    cdp = await context.new_cdp_session(page)
    try:
        async with _screens_lock:
            screen = await _zoom_screen(cdp, zoom)
        window = await cdp.send("Browser.getWindowForTarget")
        await cdp.send(
            "Browser.setWindowBounds",
            {"windowId": window["windowId"], "bounds": {"left": screen["left"], "top": 0}},
        )
    except PlaywrightError as err:
        _LOGGER.debug("No screen for zoom %s, the page stays where it is: %s", zoom, err)
    finally:
        await cdp.detach()


async def _zoom_screen(cdp: CDPSession, zoom: float) -> dict[str, Any]:
    """The browser's screen for zoom, added right of the others if there is none yet."""
    label = ZOOM_SCREEN_LABEL % f"{zoom:g}"
    screens: list[dict[str, Any]] = (await cdp.send("Emulation.getScreenInfos"))["screenInfos"]
    for screen in screens:
        if screen.get("label") == label:
            return screen
    # The size is given in the screen's own pixels; screenInfos gives it in CSS pixels.
    added = await cdp.send(
        "Emulation.addScreen",
        {
            "left": max(screen["left"] + screen["width"] for screen in screens),
            "top": 0,
            "width": math.ceil(ZOOM_SCREEN_SIZE * zoom),
            "height": math.ceil(ZOOM_SCREEN_SIZE * zoom),
            "devicePixelRatio": zoom,
            "label": label,
        },
    )
    info: dict[str, Any] = added["screenInfo"]
    return info
