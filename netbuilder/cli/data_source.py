"""The ``--data SOURCE`` of the commands that train (train, search, export for deployment)."""

from __future__ import annotations

from pathlib import Path


class DataSourceError(ValueError):
    """A source that is neither built in nor a file or folder here."""


def resolve_source(source: str) -> str:
    """A built-in source's name as given, or the absolute path of a file or folder (the worker
    may run elsewhere); anything else is refused with the sources there are."""
    from netbuilder.runtime.data import BUILTIN_SOURCES

    if source.strip().lower().replace("-", "_") in BUILTIN_SOURCES:
        return source
    path = Path(source).expanduser()
    if not path.exists():
        raise DataSourceError(f"no such data source: {source} (not a file or folder; built-in "
                              f"sources: {', '.join(BUILTIN_SOURCES)})")
    return str(path.resolve())
