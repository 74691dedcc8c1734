"""How Chromium is kept apart from its owner: its own account, its sandbox, its profile.

A page is hostile until proven otherwise. Chromium's sandbox confines the
processes that run pages (no files, no other processes); it needs either
unprivileged user namespaces or the setuid helper (Debian: chromium-sandbox),
and refuses to run as root. So:

- Run as root (the add-on, some Home Assistant Core installs), Chromium runs
  as an account of its own (SANDBOX_USERS), never as root: then the sandbox
  works with the setuid helper or user namespaces.
- Run as another user (Home Assistant Core's usual homeassistant account),
  Chromium runs as that user; its sandbox works where user namespaces or the
  helper are there.
- Where the sandbox cannot be had, Chromium runs without it (BrowserPool tries
  it first), and its owner says so (diagnostics, a repair issue).

A small launcher script does the switch: we start it as Chromium (launch.py); it
hands the profile we made to Chromium's account and runs the browser
as that account.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import pwd
import shlex
import shutil

# Accounts Chromium may run as when we are root, in order: the add-on's own,
# then the system's least privileged one.
SANDBOX_USERS = ("dashboard-cast", "nobody")
# WebRTC may use UDP only through a proxy (so not at all: a page's every
# connection goes through its egress proxy). The full browser takes the first
# switch, the headless shell the second; each ignores the other.
WEBRTC_ARGS = (
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
SETPRIV = "setpriv"
LAUNCHER_NAME = "launch-chromium"
HOME_NAME = "home"


@dataclass(frozen=True, slots=True)
class BrowserIsolation:
    """How the running Chromium is isolated, for diagnostics and repairs."""

    sandbox: bool
    user: str  # the account Chromium runs as
    reason: str | None = None  # why the sandbox is off
    # Its network service sandboxed too (the headless shell never does it).
    network_sandbox: bool = False

    def as_dict(self) -> dict[str, str | bool | None]:
        """For diagnostics and the renderer's health answer."""
        return {
            "sandbox": self.sandbox,
            "network_sandbox": self.network_sandbox,
            "user": self.user,
            "sandbox_off_reason": self.reason,
        }


def is_headless_shell(executable: str) -> bool:
    """Tell whether a Chromium binary is the headless shell (by its name)."""
    return "headless" in Path(executable).name


def chromium_account() -> pwd.struct_passwd | None:
    """The account to run Chromium as when it must not be ours (we are root), else None."""
    if os.geteuid() != 0:
        return None
    for name in SANDBOX_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError(f"Running as root, and none of the accounts {SANDBOX_USERS} exists")


def current_user_name() -> str:
    """This process's account name."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


@dataclass(frozen=True, slots=True)
class Launcher:
    """What we start as Chromium (the launcher, or Chromium itself), and its home."""

    executable: str
    home: Path
    user: str


def prepare_launcher(
    temp_dir: Path, executable: str, account: pwd.struct_passwd | None
) -> Launcher:
    """Make Chromium's home in temp_dir, and the launcher for account (blocking: use a thread).

    temp_dir/home is Chromium's HOME and TMPDIR, owned by its account. Without
    an account to switch to, Chromium itself is started. The script stays ours:
    Chromium's account may not change what runs next as root.
    """
    temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    home = temp_dir / HOME_NAME
    home.mkdir(mode=0o700, exist_ok=True)
    if account is None:
        return Launcher(executable, home, current_user_name())
    os.chown(home, account.pw_uid, account.pw_gid)
    temp_dir.chmod(0o711)  # its account passes through to home, sees nothing else
    owner = f"{account.pw_uid}:{account.pw_gid}"
    setpriv = shlex.quote(shutil.which(SETPRIV) or SETPRIV)
    switch = f"{setpriv} --reuid={account.pw_uid} --regid={account.pw_gid} --clear-groups"
    script = temp_dir / LAUNCHER_NAME
    script.write_text(
        "\n".join(
            [
                "#!/bin/sh",
                "# Written by Dashboard Cast (isolation.py): run Chromium as its own account.",
                "for arg; do",
                '  case "$arg" in --user-data-dir=*) profile="${arg#--user-data-dir=}" ;; esac',
                "done",
                f'if [ -n "$profile" ]; then chown -R {owner} "$profile" || exit 1; fi',
                f'exec {switch} -- {shlex.quote(executable)} "$@"',
                "",
            ]
        )
    )
    script.chmod(0o700)
    return Launcher(str(script), home, account.pw_name)


def sandbox_failure(message: str) -> str:
    """What a launch that failed with the sandbox on says of it (Chromium's own words)."""
    for line in message.splitlines():
        if "sandbox" in line.lower() and "]" in line:
            text = line.rsplit("] ", 1)[-1]
            return text.split(" If you want to live dangerously", 1)[0].strip()[:400]
    return "Chromium did not start with its sandbox on"
