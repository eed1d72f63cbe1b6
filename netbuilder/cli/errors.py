"""How every command reports a failure: one line on stderr, never a traceback."""

from __future__ import annotations

import sys


def fail(message: str, code: int = 1) -> int:
    """Print ``netbuilder: message`` on stderr; returns the exit status ``code``."""
    print(f"netbuilder: {message}", file=sys.stderr)
    return code


def unexpected(what: str, err: BaseException) -> int:
    """The one line for an error nobody foresaw: ``netbuilder: <what> failed: <class>: <first
    line of its message>``."""
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    return fail(f"{what} failed: {type(err).__name__}: {message}")
