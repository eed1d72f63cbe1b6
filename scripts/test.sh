#!/usr/bin/env bash
# Install NetBuilder with its test tools (first run only), check the architecture (import-linter's
# contracts in pyproject.toml) and the code (ruff), then run the tests: all of them by default;
# arguments go to pytest (`bash scripts/test.sh -m "not slow"` is the quick loop).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh" "[test]"
cd "$ROOT"
export QT_QPA_PLATFORM=offscreen TF_CPP_MIN_LOG_LEVEL=3

if ! "$VENV/bin/lint-imports" --no-cache; then
  echo "netbuilder test: FAILED: lint-imports (the import contracts in pyproject.toml)" >&2
  exit 1
fi
if ! "$VENV/bin/ruff" check netbuilder tests bench tools main.py; then
  echo "netbuilder test: FAILED: ruff check netbuilder tests bench tools main.py" >&2
  exit 1
fi
exec "$VENV/bin/python" -m pytest "$@"
