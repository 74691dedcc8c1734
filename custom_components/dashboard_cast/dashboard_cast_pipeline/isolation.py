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

A small launcher script does the switch: Playwright starts it as Chromium, and
it prepares the profile Playwright made (our preferences, owned by Chromium's
account) before it runs the real browser.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import pwd
import shlex
import shutil

# Accounts Chromium may run as when we are root, in order: the add-on's own,
# then the system's least privileged one.
SANDBOX_USERS = ("dashboard-cast", "nobody")
# Profile preferences no command-line switch sets. WebRTC may use UDP only
# through a proxy: a page's every connection goes through its egress proxy.
PROFILE_PREFERENCES = {"webrtc": {"ip_handling_policy": "disable_non_proxied_udp"}}
SETPRIV = "setpriv"
LAUNCHER_NAME = "launch-chromium"
HOME_NAME = "home"


@dataclass(frozen=True, slots=True)
class BrowserIsolation:
    """How the running Chromium is isolated, for diagnostics and repairs."""

    sandbox: bool
    user: str  # the account Chromium runs as
    reason: str | None = None  # why the sandbox is off

    def as_dict(self) -> dict[str, str | bool | None]:
        """For diagnostics and the renderer's health answer."""
        return {"sandbox": self.sandbox, "user": self.user, "sandbox_off_reason": self.reason}


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
    """The launcher script and the home folder of the Chromium it starts."""

    script: Path
    home: Path
    user: str


def prepare_launcher(
    temp_dir: Path, executable: str, account: pwd.struct_passwd | None
) -> Launcher:
    """Write the launcher into temp_dir (blocking: use the executor).

    temp_dir/home is Chromium's HOME and TMPDIR, owned by its account. The
    script itself stays ours: Chromium's account may not change what runs next
    as root.
    """
    temp_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    home = temp_dir / HOME_NAME
    home.mkdir(mode=0o700, exist_ok=True)
    preferences = shlex.quote(json.dumps(PROFILE_PREFERENCES))
    lines = [
        "#!/bin/sh",
        "# Written by Dashboard Cast (isolation.py): prepare the profile, then run Chromium.",
        "for arg; do",
        '  case "$arg" in --user-data-dir=*) profile="${arg#--user-data-dir=}" ;; esac',
        "done",
        'if [ -n "$profile" ]; then',
        '  mkdir -p "$profile/Default" || exit 1',
        f'  printf %s {preferences} > "$profile/Default/Preferences" || exit 1',
    ]
    command = shlex.quote(executable)
    if account is not None:
        os.chown(home, account.pw_uid, account.pw_gid)
        temp_dir.chmod(0o711)  # its account passes through to home, sees nothing else
        owner = f"{account.pw_uid}:{account.pw_gid}"
        lines.append(f'  chown -R {owner} "$profile" || exit 1')
        setpriv = shutil.which(SETPRIV) or SETPRIV
        command = (
            f"{shlex.quote(setpriv)} --reuid={account.pw_uid} --regid={account.pw_gid}"
            f" --clear-groups -- {command}"
        )
    lines += ["fi", f'exec {command} "$@"', ""]
    script = temp_dir / LAUNCHER_NAME
    script.write_text("\n".join(lines))
    script.chmod(0o700)
    return Launcher(script, home, account.pw_name if account is not None else current_user_name())


def sandbox_failure(message: str) -> str:
    """What a launch that failed with the sandbox on says of it (Chromium's own words)."""
    for line in message.splitlines():
        if "sandbox" in line.lower() and "]" in line:
            text = line.rsplit("] ", 1)[-1]
            return text.split(" If you want to live dangerously", 1)[0].strip()[:400]
    return "Chromium did not start with its sandbox on"
