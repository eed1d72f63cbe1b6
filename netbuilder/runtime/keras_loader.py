"""The one way the runtime loads Keras: ``load_keras()`` where the module is needed (lazily:
TensorFlow takes seconds to import), and ``import_keras_quietly()`` for the command line, which
promises one clean line per error, without TensorFlow's start-up chatter on stderr."""

from __future__ import annotations

import os
import sys
from typing import Any


def load_keras() -> Any:
    """The ``keras`` module, imported on first use (TensorFlow's C++ logging turned down unless
    the environment says otherwise)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    return keras


def import_keras_quietly() -> None:
    """Import Keras with file descriptor 2 pointed at /dev/null meanwhile: TensorFlow's C++
    start-up messages bypass Python's ``sys.stderr``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded): nothing to keep clean
        import keras  # noqa: F401
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
