# shellcheck shell=bash
# Install one of the project's Python environments into a venv, with uv (as
# Home Assistant's own development setup does): the minimum Home Assistant and
# its test requirements (requirements_test.txt), or the newest release beside
# it (requirements_test_next.txt says which and why). Run by scripts/setup
# inside the project's environment:
#   bash scripts/_venv.sh minimum|newest <python3.14> <venv>
set -euo pipefail
which="$1" python="$2" venv="$3"
# uv downloads in parallel and keeps what it downloaded in its cache: the second
# venv, and every later setup, installs mostly from there.
UV_REQUIREMENT="uv==0.13.9"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
[ -x "$venv/bin/uv" ] || "$venv/bin/pip" install -q --disable-pip-version-check "$UV_REQUIREMENT"
# The system's CA store (a proxy CA the host trusts, as pip had it), and the
# package index pip is set to use, if any.
export UV_NATIVE_TLS=1
if index=$("$venv/bin/pip" config get global.index-url 2>/dev/null); then
  export UV_DEFAULT_INDEX="$index"
fi
uv_install=("$venv/bin/uv" pip install -q --python "$venv/bin/python")
install() { "${uv_install[@]}" "$@"; }
constraints() {
  "$venv/bin/python" -c 'import homeassistant, os; print(os.path.join(os.path.dirname(homeassistant.__file__), "package_constraints.txt"))'
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

case "$which" in
  minimum)
    install -r requirements_test.txt
    # What a real Home Assistant installs on its first start (scripts/ha_requirements.py).
    "$venv/bin/python" scripts/ha_requirements.py >"$work/ha.txt"
    install -r "$work/ha.txt" -c "$(constraints)"
    ;;
  newest)
    pin() { grep -E "^$1==" requirements_test_next.txt; }
    install "$(pin homeassistant)"
    "$venv/bin/python" scripts/ha_requirements.py --replace requirements_test_next.txt >"$work/ha.txt"
    install -r "$work/ha.txt" -c "$(constraints)"
    # The harness's release for the previous Home Assistant, without its pins; then
    # its requirements at the versions this Home Assistant has.
    install --no-deps "$(pin pytest-homeassistant-custom-component)"
    "$venv/bin/python" scripts/ha_requirements.py --harness >"$work/harness.txt"
    grep -vE '^(homeassistant|pytest-homeassistant-custom-component)==' requirements_test_next.txt >"$work/own.txt"
    install -r "$work/harness.txt" -r "$work/own.txt" -c "$(constraints)"
    ;;
  *) echo "usage: bash scripts/_venv.sh minimum|newest <python3.14> <venv>" >&2; exit 2 ;;
esac
# The render pipeline and the renderer service, by name, from the working tree.
# The build writes its metadata into the working tree, and scripts/setup installs
# both venvs at once: one at a time, where flock(1) is there.
one_at_a_time() {
  if command -v flock >/dev/null; then flock .cache/editable-install.lock "$@"; else "$@"; fi
}
one_at_a_time "${uv_install[@]}" --no-deps -e .
