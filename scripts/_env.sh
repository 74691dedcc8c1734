# shellcheck shell=bash
# Shared by scripts/setup, scripts/test, scripts/develop, scripts/bench and scripts/addon_image.
#
# Home Assistant >= 2026.3 needs Python >= 3.14.2. Where such a python3.14 is on
# PATH we use it in .venv. Otherwise (Debian 12 and similar hosts) we build a
# Debian forky root under .cache/forky and run every command inside it with
# chroot, in a private mount namespace: the mounts (/proc, /dev, the repository)
# exist only while the command runs, so nothing is left mounted and deleting
# .cache never reaches through a bind mount into the host.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache"
ROOTFS="$CACHE/forky"
VENV_IN_ROOT="/opt/venv"
LOCAL_VENV="$REPO/.venv"
# The newest Home Assistant release, tested beside the minimum (requirements_test_next.txt).
NEWEST_HA_VENV_IN_ROOT="/opt/venv-ha-newest"
LOCAL_NEWEST_HA_VENV="$REPO/.venv-ha-newest"
MODE_FILE="$CACHE/mode"
# Downloads kept across setups and clones, outside the repository: the forky
# root's packages, and uv's and npm's caches (a setup in .venv keeps the last
# two in ~/.cache anyway). Deleting it only means downloading again.
DOWNLOADS="${DASHBOARD_CAST_DOWNLOADS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/dashboard-cast}"

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A python3.14 >= 3.14.2 on PATH, or nothing.
host_python() {
  local py
  for py in python3.14 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
      "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 14, 2))' 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

# The Debian mirror apt already uses on this host (deb822 or one-line format).
host_mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt"
  echo "$uri"
}

env_mode() {
  [ -f "$MODE_FILE" ] || die "the environment is not set up: run scripts/setup"
  cat "$MODE_FILE"
}

# Copy the host's DNS, pip, npm and CA settings into the root: a proxy CA the host
# trusts must be trusted inside too.
sync_host_files() {
  local f
  for f in /etc/resolv.conf /etc/pip.conf /etc/npmrc /etc/ssl/certs/ca-certificates.crt; do
    if [ -f "$f" ] && ! cmp -s "$f" "$ROOTFS$f"; then
      mkdir -p "$(dirname "$ROOTFS$f")"
      cp -L "$f" "$ROOTFS$f"
    fi
  done
}

# Run "$@" inside the forky root with the repository at the same path. This
# replaces the calling shell: call it last, or in a subshell.
in_root() {
  sync_host_files
  local -a keep=(
    HOME=/root LANG=C.UTF-8 LC_ALL=C.UTF-8
    PATH="$VENV_IN_ROOT/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    VIRTUAL_ENV="$VENV_IN_ROOT" DEBIAN_FRONTEND=noninteractive
    TERM="${TERM:-dumb}" CI="${CI:-}"
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-120}"
    # uv's cache is a mount of its own here (below), which files cannot be hard-linked across.
    UV_LINK_MODE=copy
  )
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    keep+=(
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
      REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
      PIP_CERT=/etc/ssl/certs/ca-certificates.crt
    )
  fi
  local var
  while IFS='=' read -r var _; do
    case "$var" in DASHBOARD_CAST_* | PYTEST_ADDOPTS) keep+=("$var=${!var}") ;; esac
  done < <(env)
  # The mounts below live only in this private namespace and vanish with it.
  # shellcheck disable=SC2016
  # exec: signals sent to the calling script reach unshare, and --kill-child
  # passes SIGTERM on if unshare itself is killed.
  exec unshare --mount --propagation private --fork --kill-child=SIGTERM -- /bin/bash -c '
    set -e
    root="$1" repo="$2" downloads="$3"; shift 3
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mountpoint -q "$root/dev/shm" || mount -t tmpfs -o mode=1777 shm "$root/dev/shm"
    mkdir -p "$root$repo"
    mount --bind "$repo" "$root$repo"
    if [ -d "$downloads" ]; then
      for cache in apt:/var/cache/apt/archives uv:/root/.cache/uv npm:/root/.npm; do
        mkdir -p "$downloads/${cache%%:*}" "$root${cache#*:}"
        mount --bind "$downloads/${cache%%:*}" "$root${cache#*:}"
      done
    fi
    exec chroot "$root" /usr/bin/env -i "$@"
  ' _ "$ROOTFS" "$REPO" "$DOWNLOADS" "${keep[@]}" /bin/bash -c 'cd "$0" && exec "$@"' "$REPO" "$@"
}

# Run "$@" with the project's Python environment first on PATH, in the repo,
# replacing the calling shell.
in_env() {
  case "$(env_mode)" in
    chroot) in_root "$@" ;;
    venv)
      cd "$REPO"
      PATH="$LOCAL_VENV/bin:$PATH" VIRTUAL_ENV="$LOCAL_VENV" exec "$@"
      ;;
    *) die "unknown environment mode in $MODE_FILE: run scripts/setup" ;;
  esac
}
