# Sourced by start.sh and test.sh: makes .venv with NetBuilder and its dependencies, and the
# system libraries Qt needs, on a fresh machine. Safe to run again: it only installs what is missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${NETBUILDER_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"

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
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
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

# Qt's system libraries (EGL, OpenGL, xkbcommon, fontconfig, D-Bus...) on a bare Debian/Ubuntu.
qt_ok() {
  QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c \
    'from PySide6.QtWidgets import QApplication; QApplication([])' >/dev/null 2>&1
}
if ! qt_ok; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "netbuilder setup: installing the system libraries Qt needs (apt-get)"
    pkgs="libegl1 libgl1 libopengl0 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6
          libdbus-1-3 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
          libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libxrender1 libxi6
          fonts-dejavu-core"
    apt-get update -qq
    # shellcheck disable=SC2086
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >/dev/null; then
      for p in $pkgs libglib2.0-0 libglib2.0-0t64; do
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$p" >/dev/null 2>&1 || true
      done
    fi
  fi
  if ! qt_ok; then
    echo "netbuilder setup: Qt cannot start; the error was:" >&2
    QT_QPA_PLATFORM=offscreen "$VENV/bin/python" -c \
      'from PySide6.QtWidgets import QApplication; QApplication([])' >&2 || true
    echo "install Qt's system libraries (libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3)" >&2
    exit 1
  fi
fi
