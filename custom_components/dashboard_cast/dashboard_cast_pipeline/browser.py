"""One headless Chromium for all streams of this Home Assistant instance."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import importlib.util
import logging
import os
from pathlib import Path
import shutil
import signal
import tempfile
from typing import TYPE_CHECKING

import aiohttp

from . import cdp
from .devtools import CdpSession
from .isolation import (
    WEBRTC_ARGS,
    BrowserIsolation,
    chromium_account,
    is_headless_shell,
    prepare_launcher,
    sandbox_failure,
)
from .launch import ChromiumProcess, LaunchError
from .priority import lower_priority_of_children
from .redact import text_for_logs, url_for_logs, url_secrets
from .watchdog import cpu_seconds, renderers_over

if TYPE_CHECKING:
    from playwright.async_api import Browser, CDPSession, Page, Playwright

_LOGGER = logging.getLogger(__name__)

# Flags for a headless renderer: no GPU, and no background traffic to Google's
# services, which a closed or offline network answers with floods of errors.
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
    # Fewer processes, less memory: software compositing runs inside the browser
    # process. The network service keeps a process of its own (sandboxed where
    # the sandbox is on): it parses what every page sends.
    "--in-process-gpu",
)
# Our pages' browser also looks up nothing itself: each page's connections go
# through its session's egress proxy (egress.py, on 127.0.0.1), which resolves
# and checks them. A connection that missed the proxy finds no address.
# Its network service runs in a sandbox of its own too (off by default on Linux).
# What Playwright's launch enabled stays enabled (launch.py keeps its switches).
ENABLED_FEATURES = (
    "NetworkServiceSandbox",
    "CDPScreenshotNewSurface",
    "SkipListAccountsWithoutGaiaCookies",
)
PAGE_BROWSER_ARGS = (
    *CHROMIUM_ARGS,
    *WEBRTC_ARGS,
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    f"--enable-features={','.join(ENABLED_FEATURES)}",
)
# The frame clock (capture.py): the headless shell renders a page only when
# told to (HeadlessExperimental.beginFrame), every compositor stage in that
# frame, with nothing rendered between.
FRAME_CLOCK_ARGS = (
    "--enable-begin-frame-control",
    "--run-all-compositor-stages-before-draw",
    "--disable-new-content-rendering-timeout",
    "--disable-threaded-animation",
    "--disable-threaded-scrolling",
    "--disable-checker-imaging",
)
# The headless shell's: the frame clock, and no unsandboxed zygote. Chromium
# starts that zygote for processes that set up their own sandbox after the
# fork (the GPU process, a sandboxed network service). The headless shell has
# none: compositing runs in the browser process and its network service, never
# sandboxed, is started directly. Unused, the zygote held 8 MB. The full
# browser keeps it, for its sandboxed network service.
HEADLESS_SHELL_ARGS = (*FRAME_CLOCK_ARGS, "--no-unsandboxed-zygote")
# A renderer process (the pages of one site) may use this much memory; past it,
# it is stopped: its page crashes and the session's watchdog restarts it (then
# gives up), and the machine keeps its memory. Dashboards use a few hundred MB.
PAGE_MEMORY_LIMIT_MB = 1024
MEMORY_CHECK_SECONDS = 2.0
# The headless shell first: Chromium's headless build (what Playwright itself
# uses for headless), about half the memory of the full browser. Debian's
# /usr/bin/chromium-headless-shell is a script that does not exec: its binary
# is taken directly, so the browser is our child, not a shell's.
HEADLESS_SHELL_BINARIES = ("/usr/lib/chromium/chromium-headless-shell",)
CHROMIUM_NAMES = (
    "chromium-headless-shell",
    "chrome-headless-shell",
    "chromium",
    "chromium-browser",
    "google-chrome-stable",
    "google-chrome",
)
# Command names of Playwright's driver and Chromium's processes.
RENDERER_NAMES = ("node", "chrom", "headless_shell")
# The only variables of ours Chromium sees (HOME and TMPDIR are set to its own folder).
BROWSER_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ")
CLOSE_TIMEOUT = 5.0
# A browser no stream has used for this long is closed.
BROWSER_IDLE_SECONDS = 60.0
# Not a requirement of the manifest: Playwright publishes no musllinux wheel and
# its driver is a glibc program, so on Home Assistant OS and Container the
# requirement could not install and the integration would not load at all.
PLAYWRIGHT_REQUIREMENT = "playwright==1.65.2"
# The browser process answers DevTools at once even while pages work hard.
ANSWER_TIMEOUT = 1.0
# The full browser makes its process-singleton socket in a folder of its own in
# TMPDIR (TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket), and a socket's
# path has at most 107 bytes: with a longer TMPDIR than this it does not start.
LONGEST_TMPDIR = 107 - len(b"/org.chromium.Chromium.XXXXXX/SingletonSocket")
# Where Chromium keeps its temp files when its home is too deep for that: the
# system's temp folder, which every account may use, as Playwright leaves it.
# Chromium makes private folders and files in it (mkdtemp, mkstemp).
SHORT_TMPDIR = "/tmp"  # noqa: S108 - the system's temp folder is meant here


def browser_environment(home: Path) -> dict[str, str]:
    """What Chromium gets of our environment: only what it needs to run.

    A browser opens any page; Home Assistant's environment (or the add-on's
    SUPERVISOR_TOKEN) stays out of it. home: its HOME, and its TMPDIR unless
    home's path is too long for the full browser's socket (a deep temp folder).
    """
    env: dict[str, str] = {key: os.environ[key] for key in BROWSER_ENVIRONMENT if key in os.environ}
    env["HOME"] = env["TMPDIR"] = str(home)
    if len(os.fsencode(home)) > LONGEST_TMPDIR:
        env["TMPDIR"] = SHORT_TMPDIR
    return env


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):  # already gone
            os.kill(pid, signal.SIGKILL)


def playwright_importable() -> bool:
    """Tell whether the in-process renderer can run here (looks at files: use the executor)."""
    try:
        return importlib.util.find_spec("playwright") is not None
    except ValueError, ImportError:  # a broken or blocked installation
        return False


def find_chromium(*, headless_shell: bool = True) -> str | None:
    """Return the system Chromium (its headless shell if there is one), else None.

    None: Playwright's own browser. headless_shell=False: the full browser only.
    """
    if headless_shell:
        for binary in HEADLESS_SHELL_BINARIES:
            if os.access(binary, os.X_OK):
                return binary
    for name in CHROMIUM_NAMES:
        if not headless_shell and "headless" in name:
            continue
        if path := shutil.which(name):
            return path
    return None


class BrowserPool:
    """Start Chromium on first use, share it, close it when idle for a while."""

    def __init__(
        self,
        executable_path: str | None = None,
        idle_seconds: float = BROWSER_IDLE_SECONDS,
        *,
        on_launch_error: Callable[[str], None] = lambda error: None,
        on_launch: Callable[[BrowserIsolation | None], None] = lambda isolation: None,
        cdp_url: str | None = None,
        temp_dir: Path | None = None,
    ) -> None:
        """Initialize; nothing starts until the first acquire.

        temp_dir: Chromium's HOME and TMPDIR, so what it leaves after a crash is
        where its owner sweeps (default: a folder of its own in the temp folder;
        TMPDIR is the system's if temp_dir is too deep, see browser_environment).

        cdp_url: drive a browser that already runs (a browserless-style DevTools
        endpoint, see cdp.py) instead of launching Chromium; closing only
        disconnects. It may hold a token: it is never logged as it is.

        on_launch_error(reason) and on_launch(isolation) tell whether Chromium
        starts, and how it is isolated (None: a browser elsewhere); Home
        Assistant raises and clears repair issues with them.
        """
        self._executable_path = executable_path
        self._cdp_url = cdp_url
        self._temp_dir = temp_dir or Path(tempfile.gettempdir()) / "dashboard_cast_browser"
        self._idle_seconds = idle_seconds
        self._on_launch_error = on_launch_error
        self._on_launch = on_launch
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._users = 0
        self._idle_handle: asyncio.TimerHandle | None = None
        self._browser_cdp: CDPSession | None = None  # of the running browser
        # The Chromium we launched, on our DevTools pipe (Playwright behind it).
        self._chromium: ChromiumProcess | None = None
        self.version: str | None = None  # of the browser last launched
        self.executable: str | None = None  # which Chromium that was (None: a browser elsewhere)
        self.isolation: BrowserIsolation | None = None  # of the browser we launched last
        # Pages render on our clock (the headless shell we launched), else by damage.
        self.frame_clock = False
        # One page's frame at a time: the headless shell crashes (a failed
        # CHECK in its compositor) when frames of several pages overlap.
        self.frame_lock = asyncio.Lock()
        self.page_memory_limit = PAGE_MEMORY_LIMIT_MB * 1024 * 1024
        self._memory_guard: asyncio.Task[None] | None = None
        # When a renderer was last stopped for its memory (the loop's clock).
        self.memory_stopped_at: float | None = None
        self.launches = 0

    @property
    def launches_browser(self) -> bool:
        """Tell whether the browser is ours, on this machine (not one elsewhere over cdp_url)."""
        return self._cdp_url is None

    @property
    def capture_mode(self) -> str | None:
        """How pages are captured: on our frame clock, or by damage; None before a launch."""
        if not self.launches:
            return None
        return "frame_clock" if self.frame_clock else "screencast"

    @property
    def running(self) -> bool:
        """Tell whether a browser process is up."""
        return self._browser is not None and self._browser.is_connected()

    @property
    def browser_pid(self) -> int | None:
        """The process of the Chromium we launched (None: none, or a browser elsewhere)."""
        return None if self._chromium is None else self._chromium.pid

    async def page_session(self, page: Page) -> CdpSession:
        """A DevTools session to page, for its frames.

        On the Chromium we launched, a session of our own on its pipe: its
        messages never pass Playwright's driver. Elsewhere, Playwright's.
        """
        chromium = self._chromium
        if chromium is None or page.context.browser is not self._browser:
            return await page.context.new_cdp_session(page)
        lookup = await page.context.new_cdp_session(page)
        try:
            info = await lookup.send("Target.getTargetInfo")
        finally:
            await lookup.detach()
        return await chromium.devtools.attach(info["targetInfo"]["targetId"])

    async def acquire(self) -> Browser:
        """Return the running browser, starting it if needed; pair with release()."""
        async with self._lock:
            self._cancel_idle()
            if not self.running:
                await self._close_locked()
                launch = asyncio.get_running_loop().create_task(self._launch_locked())
                try:
                    await asyncio.shield(launch)
                except asyncio.CancelledError:
                    # A launch cut short would leave Playwright's driver behind:
                    # finish it, and let the browser idle out like any other.
                    await launch
                    self._start_idle_timer()
                    raise
            assert self._browser is not None
            self._users += 1
            return self._browser

    def release(self) -> None:
        """Give back a browser from acquire(); the last user starts the idle timer."""
        self._users = max(0, self._users - 1)
        if self._users == 0:
            self._start_idle_timer()

    async def async_close(self) -> None:
        """Close the browser now (Home Assistant stops)."""
        async with self._lock:
            self._cancel_idle()
            await self._close_locked()
            self._users = 0

    async def async_discard(self, browser: Browser) -> None:
        """Kill a browser that hangs or crashed; the next acquire launches a new one.

        Its users keep their claim: each calls release() and acquire() again.
        """
        async with self._lock:
            if self._browser is not browser:
                return  # another session already replaced it
            _LOGGER.warning("Chromium stopped answering or crashed: restarting it")
            # A hung browser never answers a polite close: kill it first.
            if self._chromium is not None:
                await self._chromium.kill()
            await self._close_locked()

    async def async_answers(self, browser: Browser) -> bool:
        """Tell whether the browser process answers (a page may hang on its own).

        Every stream's watchdog asks about once a second: one DevTools session
        to the running browser serves them all.
        """
        if not browser.is_connected() or browser is not self._browser:
            return False  # closed, or already replaced by a new browser
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                if self._chromium is not None:  # ours: on our own pipe
                    await self._chromium.devtools.browser_call("Browser.getVersion")
                    return True
                if self._browser_cdp is None:
                    self._browser_cdp = await browser.new_browser_cdp_session()
                await self._browser_cdp.send("Browser.getVersion")
        except Exception:  # noqa: BLE001 - timeout or a closed connection: it does not answer
            return False
        return True

    async def async_check_endpoint(self) -> None:
        """Raise cdp.CdpError unless the browser endpoint answers and takes its token.

        Nothing to check when we launch Chromium ourselves.
        """
        if self._cdp_url is not None:
            async with aiohttp.ClientSession() as http:
                await cdp.browser_version(http, self._cdp_url)

    def processes(self) -> list[int]:
        """The processes of the Chromium this pool launched (none for a browser elsewhere)."""
        return [] if self._chromium is None else self._chromium.processes()

    def cpu_seconds(self) -> float:
        """CPU time the running Chromium processes have used so far."""
        return sum(cpu_seconds(pid) or 0.0 for pid in self.processes())

    async def _close_if_idle(self) -> None:
        async with self._lock:
            if self._users == 0:
                _LOGGER.debug("Closing Chromium: no stream used it for %ss", self._idle_seconds)
                await self._close_locked()

    def _start_idle_timer(self) -> None:
        self._cancel_idle()
        if self._browser is not None:
            self._idle_handle = asyncio.get_running_loop().call_later(
                self._idle_seconds, self._spawn_close_if_idle
            )

    def _spawn_close_if_idle(self) -> None:
        task = asyncio.get_running_loop().create_task(self._close_if_idle())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    async def _launch_locked(self) -> None:
        # Imported here: only the in-process renderer needs Playwright.
        from playwright.async_api import async_playwright  # noqa: PLC0415

        playwright = await async_playwright().start()
        try:
            if self._cdp_url is not None:
                async with aiohttp.ClientSession() as http:
                    endpoint = await cdp.websocket_url(http, self._cdp_url)
                self._browser = await playwright.chromium.connect_over_cdp(endpoint)
                self.isolation = None
            else:
                self._browser, self.isolation = await self._launch_isolated(playwright)
        except Exception as err:
            await playwright.stop()
            reason = str(err).splitlines()[0] if str(err) else repr(err)
            reason = text_for_logs(reason, url_secrets(self._cdp_url or ""))
            self._on_launch_error(reason)
            if self._cdp_url is not None:  # its message may quote the URL with its token
                raise cdp.CdpError(reason) from None
            raise
        except BaseException:
            await playwright.stop()
            raise
        self._on_launch(self.isolation)
        self._playwright = playwright
        if self.launches_browser:  # ours, on this machine
            self._memory_guard = asyncio.get_running_loop().create_task(
                self._guard_memory(), name="dashboard_cast page memory guard"
            )
        self.version = self._browser.version
        if self._cdp_url is not None:
            self.executable = None
            self.frame_clock = False
        self.launches += 1
        await asyncio.to_thread(lower_priority_of_children, RENDERER_NAMES)
        _LOGGER.debug(
            "Started Chromium %s (%s)",
            self._browser.version,
            url_for_logs(self._cdp_url) if self._cdp_url else self.executable,
        )

    async def _launch_isolated(self, playwright: Playwright) -> tuple[Browser, BrowserIsolation]:
        """Launch Chromium as its own account, with its sandbox if it can be had.

        The headless shell (half the memory) keeps its network service out of
        the sandbox, always: it is chosen only where Chromium has an account of
        its own, which keeps that service away from our files. Where Chromium
        runs as our own account, the full browser sandboxes that service too.

        We start Chromium on a DevTools pipe of our own (devtools.py), and
        Playwright connects through it.
        """
        account = await asyncio.to_thread(chromium_account)
        executable = (
            self._executable_path
            or await asyncio.to_thread(find_chromium, headless_shell=account is not None)
            or playwright.chromium.executable_path
        )
        self.executable = executable
        launcher = await asyncio.to_thread(prepare_launcher, self._temp_dir, executable, account)
        # Begin-frame control is the headless shell's; the full browser renders by damage.
        self.frame_clock = is_headless_shell(executable)
        args = [*PAGE_BROWSER_ARGS, *(HEADLESS_SHELL_ARGS if self.frame_clock else ())]
        reason = None
        for sandbox in (True, False):
            try:
                chromium = await ChromiumProcess.launch(
                    launcher.executable, args, browser_environment(launcher.home), sandbox=sandbox
                )
            except LaunchError as err:
                if not sandbox:
                    raise RuntimeError(f"{executable} did not start: {err.reason}") from err
                reason = sandbox_failure(str(err))
                _LOGGER.debug("Chromium's sandbox is not available here: %s", reason)
                continue
            try:
                endpoint = await chromium.devtools.serve_playwright()
                browser = await playwright.chromium.connect_over_cdp(endpoint)
            except BaseException:
                await chromium.kill()
                raise
            self._chromium = chromium
            network_sandbox = sandbox and not is_headless_shell(executable)
            return browser, BrowserIsolation(sandbox, launcher.user, reason, network_sandbox)
        raise AssertionError("unreachable")

    async def _guard_memory(self) -> None:
        """Look at the renderers' memory every few seconds."""
        while True:
            await asyncio.sleep(MEMORY_CHECK_SECONDS)
            await self.async_stop_hoarding_renderers()

    async def async_stop_hoarding_renderers(self) -> bool:
        """Stop every renderer past the page memory limit now; tell whether one was.

        Its page crashes. A session whose page stops answering calls this too: a
        page filling its memory often stalls before the guard's next look.
        """
        pids = await asyncio.to_thread(self.processes)
        over = await asyncio.to_thread(renderers_over, pids, self.page_memory_limit)
        for pid, resident in over:
            _LOGGER.warning(
                "A page used %s MB, more than %s MB: stopping its renderer",
                resident // 2**20,
                self.page_memory_limit // 2**20,
            )
            await asyncio.to_thread(_kill, [pid])
            self.memory_stopped_at = asyncio.get_running_loop().time()
        return bool(over)

    async def _close_locked(self) -> None:
        if self._memory_guard is not None:
            self._memory_guard.cancel()
            self._memory_guard = None
        browser, playwright, chromium = self._browser, self._playwright, self._chromium
        self._browser = self._playwright = self._chromium = None
        self._browser_cdp = None
        if browser is not None:
            try:  # ours: Playwright closes its contexts and leaves; elsewhere: it leaves
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await browser.close()
            except Exception:  # the browser went first; ours is killed below
                _LOGGER.debug("Chromium was already gone", exc_info=True)
        if chromium is not None:
            await chromium.close()
        if playwright is not None:
            await playwright.stop()
