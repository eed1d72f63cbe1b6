#!/usr/bin/env bash
# Install NetBuilder (first run only) and start it. Arguments go to the editor, e.g. a project file.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$ROOT/scripts/setup.sh" ""
if [ "$#" -eq 0 ]; then
  set -- "$ROOT/resources/examples/mnist_cnn.nbproj"
fi
exec "$VENV/bin/netbuilder" "$@"
