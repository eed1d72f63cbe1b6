#!/usr/bin/env bash
# Install NetBuilder with its test tools (first run only) and run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh" "[test]"
cd "$ROOT"
export QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=3
exec "$VENV/bin/python" -m pytest "$@"
