# Sourced by start.sh and test.sh: makes .venv with NetBuilder and its dependencies, and the
# system libraries Qt needs, on a fresh machine. Safe to run again: it only installs what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NETBUILDER_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"

CAN_APT=""  # root with apt-get: missing system packages get installed
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then CAN_APT=1; fi

# apt-get install PACKAGE...: one at a time if all at once fails, then under its t64 name
# (Debian 13, Ubuntu 24.04 renamed some libraries: libglib2.0-0 became libglib2.0-0t64)
apt_install() {
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 && return 0
  local p
  for p in "$@"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${p}t64" >/dev/null 2>&1 ||
      echo "netbuilder setup: apt-get could not install $p" >&2
  done
}

pick_python() {
  for py in python3.12 python3.11 python3.13 python3.10 python3; do
    if command -v "$py" >/dev/null 2>&1 &&
       "$py" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 13)))'; then
      echo "$py"; return 0
    fi
  done
  echo "netbuilder setup: Python 3.10 to 3.13 is needed (TensorFlow supports no other)" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(pick_python)"
  echo "netbuilder setup: creating $VENV with $PY"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    if [ -n "$CAN_APT" ]; then
      apt_install python3-venv
      "$PY" -m venv "$VENV"
    else
      echo "netbuilder setup: '$PY -m venv' failed; install the python3-venv package" >&2
      exit 1
    fi
  fi
fi

# Reinstall only when pyproject.toml changed since the last install.
# (an install with the test tools serves the plain start too)
STAMP="$VENV/.netbuilder-installed$EXTRAS"
[ -z "$EXTRAS" ] && [ -f "$VENV/.netbuilder-installed[test]" ] && STAMP="$VENV/.netbuilder-installed[test]"
if [ ! -f "$STAMP" ] || [ "$ROOT/pyproject.toml" -nt "$STAMP" ]; then
  echo "netbuilder setup: installing NetBuilder and its dependencies into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT$EXTRAS"
  touch "$STAMP"
fi

# Qt's system libraries, found by ldd on the platform plugins (netbuilder/ui/qt_platform.py), not
# by starting Qt: the tests' offscreen platform starts without the libraries of xcb (an X11 display),
# and then the editor aborts. xcb's are installed whenever they can be (CI's real-window test too).
platforms="offscreen"
if [ -n "$CAN_APT" ] || [ -n "${DISPLAY:-}" ]; then platforms="$platforms xcb"; fi
if [ -n "${WAYLAND_DISPLAY:-}" ]; then platforms="$platforms wayland"; fi
# shellcheck disable=SC2086
missing="$("$VENV/bin/python" -m netbuilder.ui.qt_platform $platforms)"
if [ -n "$missing" ] && [ -n "$CAN_APT" ]; then
  pkgs="$(awk '{print $2}' <<<"$missing" | sort -u | tr '\n' ' ')"
  # no fonts at all: Qt warns on every text it draws
  [ -n "$(find /usr/share/fonts -type f -print -quit 2>/dev/null)" ] || pkgs="${pkgs}fonts-dejavu-core"
  echo "netbuilder setup: installing the system libraries Qt needs (apt-get): $pkgs"
  # shellcheck disable=SC2086
  apt_install $pkgs
fi
if [ -n "$missing" ]; then  # what is still missing, and the command that installs it
  # shellcheck disable=SC2086
  explained="$("$VENV/bin/python" -m netbuilder.ui.qt_platform --explain $platforms)"
  [ -z "$explained" ] || echo "netbuilder setup: for Qt ($platforms), $explained" >&2
fi
if ! QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c \
     'from PySide6.QtWidgets import QApplication; QApplication([])' >/dev/null 2>&1; then
  echo "netbuilder setup: Qt cannot start; the error was:" >&2
  QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c \
    'from PySide6.QtWidgets import QApplication; QApplication([])' >&2 || true
  exit 1
fi
