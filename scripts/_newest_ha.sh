# shellcheck shell=bash
# Install the newest Home Assistant release and its test harness into a venv of
# its own, beside the minimum's (requirements_test_next.txt says which and why).
# Run by scripts/setup inside the project's environment:
#   bash scripts/_newest_ha.sh <python3.14> <venv>
set -euo pipefail
python="$1" venv="$2"
pin() { grep -E "^$1==" requirements_test_next.txt; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "$(pin homeassistant)"
constraints=$("$venv/bin/python" -c 'import homeassistant, os; print(os.path.join(os.path.dirname(homeassistant.__file__), "package_constraints.txt"))')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# pip warns that the harness wants the previous Home Assistant's pins; that is
# expected here, so its output is shown only when it fails.
quiet() { "$@" >"$work/pip.log" 2>&1 || { cat "$work/pip.log" >&2; return 1; }; }
# What a real Home Assistant installs on its first start (see the minimum's).
"$venv/bin/python" scripts/ha_requirements.py --replace requirements_test_next.txt >"$work/ha.txt"
quiet "$venv/bin/pip" install -q -r "$work/ha.txt" -c "$constraints"
# The harness's release for the previous Home Assistant, without its pins; then
# its requirements at the versions this Home Assistant has.
"$venv/bin/pip" install -q --no-deps "$(pin pytest-homeassistant-custom-component)"
"$venv/bin/python" scripts/ha_requirements.py --harness >"$work/harness.txt"
grep -vE '^(homeassistant|pytest-homeassistant-custom-component)==' requirements_test_next.txt >"$work/own.txt"
quiet "$venv/bin/pip" install -q -r "$work/harness.txt" -r "$work/own.txt" -c "$constraints"
# The render pipeline and the renderer service, by name, from the working tree.
# pip writes its metadata into the working tree, and scripts/setup may install
# the minimum's at the same time: one at a time, where flock(1) is there.
one_at_a_time() {
  if command -v flock >/dev/null; then flock .cache/editable-install.lock "$@"; else "$@"; fi
}
PYTHONWARNINGS=ignore quiet one_at_a_time "$venv/bin/pip" install -q --no-deps -e .
