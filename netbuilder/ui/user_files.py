"""The user's files around the editor: NetBuilder's settings (recent files, what the View menu
shows) and the example projects."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from netbuilder.core.project import SUFFIX

APP_NAME = "NetBuilder"
MAX_RECENT = 10


def app_settings() -> QSettings:
    """NetBuilder's settings (recent files, what the View menu shows, the window's layout, the
file dialogs' folders), in an INI file."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, APP_NAME, APP_NAME)


def recent_files() -> list[str]:
    """Recently opened or saved projects, newest first, those that still exist."""
    value = app_settings().value("recent_files", [])
    if isinstance(value, str):
        value = [value]
    return [p for p in (value or []) if isinstance(p, str) and Path(p).is_file()]


def remember_recent(path: str | Path) -> None:
    entry = str(Path(path).expanduser().resolve())
    files = [entry] + [p for p in recent_files() if p != entry]
    app_settings().setValue("recent_files", files[:MAX_RECENT])


def forget_recent(path: str | Path | None = None) -> None:
    """Forget one file (None: all of them)."""
    if path is None:
        app_settings().setValue("recent_files", [])
        return
    entry = str(Path(path).expanduser().resolve())
    app_settings().setValue("recent_files", [p for p in recent_files() if p != entry])


def last_dir(kind: str) -> Path | None:
    """The folder a file dialog of ``kind`` ("project", "export", "import") last chose, if it is
    still there."""
    value = app_settings().value(f"dialogs/last_dir/{kind}", "")
    return Path(value) if isinstance(value, str) and value and Path(value).is_dir() else None


def remember_dir(kind: str, path: str | Path) -> None:
    """A file dialog of ``kind`` chose ``path``: its folder is where the next one opens."""
    app_settings().setValue(f"dialogs/last_dir/{kind}",
                            str(Path(path).expanduser().resolve().parent))


def examples_dir() -> Path:
    """Where the example projects live (``resources/examples`` next to the package)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "resources" / "examples",
                      package.parent / "resources" / "examples"):
        if candidate.is_dir():
            return candidate
    return package.parent / "resources" / "examples"


def is_example(path: str | Path) -> bool:
    """Whether ``path`` is one of the bundled examples: they open as examples (unsaved, their runs
    in a temporary folder), so that Save and training never write into the installation."""
    try:
        return Path(path).resolve().parent == examples_dir().resolve()
    except OSError:
        return False


def example_paths() -> list[Path]:
    directory = examples_dir()
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []
