"""The ``--data SOURCE`` of the commands that train (train, search, export for deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


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


def saved_data_options(project: Any) -> dict[str, Any]:
    """The data options the editor saved with the project (``settings["data"]``: a source
    name, or ``{"source", "options"}``); empty when there are none, as the editor reads them."""
    data = project.settings.get("data")
    options = data.get("options") if isinstance(data, dict) else None
    return dict(options) if isinstance(options, dict) else {}


def data_options(saved: dict[str, Any], given: dict[str, Any], *,
                 overridable: bool = True) -> dict[str, Any]:
    """The job's data options: the project's ``saved`` ones with the command line's ``given``
    over them key by key (``None`` given: the default, e.g. no augmentation). ``DataError``
    when they cannot work, saying where a bad saved one comes from."""
    from netbuilder.runtime.data import DataError, resolve_options

    resolve_options(given)
    options = {**saved, **given}
    try:
        resolve_options(options)
    except DataError as err:
        fix = " or override them with --data-option KEY=VALUE" if overridable else ""
        raise DataError(f"the data options saved in the project: {err}; change them in Train ▸ "
                        f"Data…{fix}") from None
    return options
