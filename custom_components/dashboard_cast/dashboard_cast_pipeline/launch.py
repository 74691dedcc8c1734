"""Start Chromium on our own DevTools pipe (devtools.py says why), watch it, stop it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
import contextlib
import fcntl
import logging
import os
from pathlib import Path
import shutil
import signal
import tempfile
from typing import override

from .devtools import DevToolsError, DevToolsPipe
from .priority import descendants, run_lowered

_LOGGER = logging.getLogger(__name__)

PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync",
    "DestroyProfileOnBrowserClose",
    "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable",
    "LensOverlay",
    "MediaRouter",
    "PaintHolding",
    "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect",
    "OptimizationHints",
    "NetworkTimeServiceQuerying",
    "AimEnabled",
    "PreconnectToSearch",
)
# What Playwright's own launch passes Chromium (playwright 1.65: chromiumSwitches,
# then its headless switches), so that pages behave as they did under it: no
# throttling of pages nobody looks at, no popups blocked, sRGB colours, no
# traffic to Google's services.
PLAYWRIGHT_SWITCHES = (
    "--disable-field-trial-config",
    "--disable-background-networking",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-component-extensions-with-background-pages",
    "--disable-component-update",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    f"--disable-features={','.join(PLAYWRIGHT_DISABLED_FEATURES)}",
    "--allow-pre-commit-input",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-renderer-backgrounding",
    "--force-color-profile=srgb",
    "--metrics-recording-only",
    "--no-first-run",
    "--password-store=basic",
    "--use-mock-keychain",
    "--no-service-autorun",
    "--disable-search-engine-choice-screen",
    "--unsafely-disable-devtools-self-xss-warnings",
    "--enable-unsafe-swiftshader",
    "--disable-stack-profiler",
    "--disable-infobars",
    "--disable-sync",
    "--headless",
    "--hide-scrollbars",
    "--mute-audio",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
)
LAUNCH_TIMEOUT = 30.0
PROFILE_PREFIX = "dashboard-cast-profile-"
CLOSE_TIMEOUT = 5.0
STDERR_LINES = 40
# Chromium reads DevTools messages on this descriptor and writes them on the next.
PIPE_READ_FD, PIPE_WRITE_FD = 3, 4
# Descriptors are moved above this before they are arranged for the child.
_ABOVE_PIPE_FDS = 10


class LaunchError(Exception):
    """Chromium did not start; the message ends with what it wrote to stderr."""

    @property
    def reason(self) -> str:
        """The line that says most: Chromium's first fatal error, else its first error."""
        lines = str(self).splitlines()
        for level in (":FATAL:", ":ERROR:"):
            if said := next((line for line in lines[1:] if level in line), None):
                return said.rsplit("] ", 1)[-1]
        return lines[0] if lines else ""


def _new_profile(parent: Path | None) -> str:
    """Make an empty profile folder named after this process; sweep stale ones (blocking)."""
    folder = Path(parent or tempfile.gettempdir())
    for entry in folder.glob(f"{PROFILE_PREFIX}*"):
        owner = entry.name.removeprefix(PROFILE_PREFIX).partition("-")[0]
        if owner.isdigit() and not _is_running(int(owner)):
            shutil.rmtree(entry, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{PROFILE_PREFIX}{os.getpid()}-", dir=folder)


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process
        return True
    return True


class ChromiumProcess:
    """A Chromium we started, talking on our DevTools pipe."""

    def __init__(self, pid: int, profile: Path, devtools: DevToolsPipe) -> None:
        """Initialize; use launch()."""
        self.pid = pid
        self.profile = profile
        self.devtools = devtools
        self.version = ""
        self.returncode: int | None = None
        self.exited = asyncio.Event()
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._stderr_closed = asyncio.Event()

    @classmethod
    async def launch(
        cls,
        executable: str,
        args: Sequence[str],
        env: Mapping[str, str],
        *,
        sandbox: bool,
        profile_parent: Path | None = None,
    ) -> ChromiumProcess:
        """Start executable (Chromium, or its launcher) with a new profile.

        The profile is made in profile_parent, by default the system's temp
        folder, where Chromium's own account can reach it (the launcher hands
        it over), as with Playwright's launch. Its name holds our process id:
        profiles that a process no longer running left there (Home Assistant
        killed) are removed first.

        Returns once Chromium answers on the pipe; raises LaunchError (and
        leaves nothing behind) when it exits or stays silent first.
        """
        profile = Path(await asyncio.to_thread(_new_profile, profile_parent))
        argv = [
            *PLAYWRIGHT_SWITCHES,
            *(() if sandbox else ("--no-sandbox",)),
            *args,
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "--no-startup-window",
        ]
        to_chromium_read, to_chromium = _pipe()
        from_chromium, from_chromium_write = _pipe()
        stderr_read, stderr_write = _pipe()
        try:
            # Below Home Assistant's priority, with every process and thread it makes.
            pid = await run_lowered(
                _spawn, executable, argv, env, to_chromium_read, from_chromium_write, stderr_write
            )
        except BaseException as err:
            for fd in (to_chromium, from_chromium, stderr_read):
                os.close(fd)
            await asyncio.to_thread(shutil.rmtree, profile, True)
            if isinstance(err, OSError):  # not there, or not a program
                raise LaunchError(f"{executable}: {err.strerror or err}") from err
            raise
        finally:
            for fd in (to_chromium_read, from_chromium_write, stderr_write):
                os.close(fd)
        process = cls(pid, profile, DevToolsPipe())
        loop = asyncio.get_running_loop()
        process._watch(loop)
        await loop.connect_read_pipe(
            lambda: _StderrTail(process.stderr, process._stderr_closed),
            os.fdopen(stderr_read, "rb", 0),
        )
        try:
            async with asyncio.timeout(LAUNCH_TIMEOUT):
                process.version = await process.devtools.open(from_chromium, to_chromium)
        except (DevToolsError, TimeoutError) as err:
            raise LaunchError(await process._fail(err)) from None
        except BaseException:
            await process.kill()
            raise
        return process

    def processes(self) -> list[int]:
        """This Chromium's processes, the browser first (blocking: reads /proc)."""
        if self.exited.is_set():
            return []
        return [self.pid, *descendants(self.pid)]

    async def close(self) -> None:
        """Ask Chromium to quit; kill it if it does not; remove its profile."""
        if not self.exited.is_set():
            with contextlib.suppress(DevToolsError, TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    closing = asyncio.ensure_future(self.devtools.browser_call("Browser.close"))
                    # Chromium may close the pipe instead of answering.
                    closing.add_done_callback(lambda done: done.cancelled() or done.exception())
                    await self.exited.wait()
                    closing.cancel()
        await self.kill()

    async def kill(self) -> None:
        """Kill every process of this Chromium, wait for it, remove its profile."""
        if not self.exited.is_set():
            pids = await asyncio.to_thread(self.processes)
            with contextlib.suppress(OSError):  # its group is gone already
                os.killpg(self.pid, signal.SIGKILL)
            for pid in pids:  # a helper that left the group
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.exited.wait()
        await self.devtools.close()
        await asyncio.to_thread(shutil.rmtree, self.profile, True)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reap the browser process when it exits (a pidfd turns readable)."""
        pidfd = os.pidfd_open(self.pid)

        def reap() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            self.exited.set()
            _LOGGER.debug("Chromium (process %s) exited with %s", self.pid, self.returncode)

        loop.add_reader(pidfd, reap)

    async def _fail(self, err: Exception) -> str:
        """Kill what is left of a failed launch; tell why: the exit code, then Chromium's stderr."""
        with contextlib.suppress(TimeoutError):  # a closed pipe comes just before the exit
            async with asyncio.timeout(1.0):
                await self.exited.wait()
        if self.exited.is_set():
            first = f"Chromium exited with code {self.returncode} before it answered"
        elif isinstance(err, TimeoutError):
            first = f"Chromium did not answer within {LAUNCH_TIMEOUT:.0f} s"
        else:
            first = f"Chromium's DevTools pipe failed: {err}"
        await self.kill()
        with contextlib.suppress(TimeoutError):  # its last lines
            async with asyncio.timeout(1.0):
                await self._stderr_closed.wait()
        return "\n".join([first, *self.stderr])


def _above_child_fds(fd: int) -> int:
    """Move fd above the descriptors the child gets, so that arranging them overwrites none."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _ABOVE_PIPE_FDS)
    os.close(fd)
    return moved


def _pipe() -> tuple[int, int]:
    """A pipe (read end, write end), both above the child's descriptors."""
    read, write = os.pipe()
    return _above_child_fds(read), _above_child_fds(write)


def _spawn(
    executable: str,
    argv: list[str],
    env: Mapping[str, str],
    pipe_read: int,
    pipe_write: int,
    stderr: int,
) -> int:
    """Start Chromium with its DevTools pipe on descriptors 3 and 4, in a session of its own.

    posix_spawn arranges the descriptors without running Python in the child,
    which is not safe in a process with threads (Home Assistant's).
    """
    null = _above_child_fds(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
    try:
        return os.posix_spawn(
            executable,
            [executable, *argv],
            dict(env),
            file_actions=[
                (os.POSIX_SPAWN_DUP2, null, 0),
                (os.POSIX_SPAWN_DUP2, null, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2),
                (os.POSIX_SPAWN_DUP2, pipe_read, PIPE_READ_FD),
                (os.POSIX_SPAWN_DUP2, pipe_write, PIPE_WRITE_FD),
            ],
            setsid=True,
        )
    finally:
        os.close(null)


class _StderrTail(asyncio.Protocol):
    """Keeps Chromium's last lines on stderr (it writes much on a closed network)."""

    def __init__(self, lines: deque[str], closed: asyncio.Event) -> None:
        self._lines = lines
        self._closed = closed
        self._partial = b""

    @override
    def data_received(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        self._lines.extend(line.decode(errors="replace") for line in complete if line)
        if len(self._partial) > 4096:  # no line ending in sight
            self._lines.append(self._partial.decode(errors="replace"))
            self._partial = b""

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
