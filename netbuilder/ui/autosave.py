"""Autosave and crash recovery.

While a project has unsaved changes, ``Autosaver`` writes it every ~30 s (atomically, with the
project file writer) to a recovery file under the application's data folder, named after the
project's path (or ``untitled``). A clean save or close removes it. At start, a recovery file newer
than its project means the last session ended without saving: the window offers to restore it.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal

from netbuilder.core.project import SUFFIX, Project, ProjectError, save

AUTOSAVE_INTERVAL_MS = 30_000


def recovery_dir() -> Path:
    """Where recovery files live (``<app data>/recovery``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or tempfile.gettempdir()) / "recovery"


def recovery_key(path: str | Path | None) -> str:
    """``untitled`` for a project never saved; else the file's name and a hash of its full
    path (two ``model.nbproj`` in different folders do not share a recovery file)."""
    if path is None:
        return "untitled"
    resolved = str(Path(path).expanduser().resolve())
    digest = hashlib.sha1(resolved.encode("utf-8")).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(path).stem)[:40] or "project"
    return f"{stem}-{digest}"


def recovery_path(path: str | Path | None) -> Path:
    return recovery_dir() / f"{recovery_key(path)}{SUFFIX}"


def remove_recovery(path: str | Path | None) -> None:
    try:
        recovery_path(path).unlink()
    except FileNotFoundError:
        pass
    except OSError:
        pass  # a recovery file we cannot remove is offered again next time; nothing is lost


def pending_recovery(path: str | Path | None) -> Path | None:
    """The recovery file of ``path`` if it holds newer work than the project file (a recovery
    file older than its project is stale and removed)."""
    candidate = recovery_path(path)
    if not candidate.is_file():
        return None
    if path is not None:
        project_file = Path(path)
        try:
            if project_file.is_file() and \
                    candidate.stat().st_mtime <= project_file.stat().st_mtime:
                remove_recovery(path)
                return None
        except OSError:
            return None
    return candidate


class Autosaver(QObject):
    """Writes ``project()`` to the recovery file of ``path()`` about every ``interval_ms``
    while ``modified()`` says there are unsaved changes.

    The timer starts at the first change after a write, so continuous editing is still saved
    every interval; ``tick()`` does one write now (the timer calls it; tests call it).
    """

    written = Signal(str)
    """A recovery file was written: its path."""
    failed = Signal(str)
    """Writing the recovery file failed: why."""

    def __init__(self, project: Callable[[], Project], path: Callable[[], Path | None],
                 modified: Callable[[], bool], interval_ms: int = AUTOSAVE_INTERVAL_MS,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project, self._path, self._modified = project, path, modified
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.tick)
        self.pending = False  # changes since the last write
        self.last_written: Path | None = None

    def changed(self) -> None:
        """The project changed (connect to the undo stack's ``indexChanged``)."""
        self.pending = True
        if self._modified() and not self.timer.isActive():
            self.timer.start()

    def tick(self) -> Path | None:
        """Write the recovery file if there are unsaved changes not written yet."""
        if not self.pending or not self._modified():
            return None
        target = recovery_path(self._path())
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save(self._project(), target)  # atomic: a crash mid-write keeps the previous one
        except (OSError, ProjectError) as err:
            self.failed.emit(str(err))
            self.timer.start()  # try again later
            return None
        self.pending = False
        self.last_written = target
        self.written.emit(str(target))
        return target

    def discard(self, path: str | Path | None = None, *, current: bool = True) -> None:
        """Remove the recovery file (of the current path, and of ``path`` if given): the work
        was saved or deliberately thrown away."""
        self.timer.stop()
        self.pending = False
        if current:
            remove_recovery(self._path())
        if path is not None:
            remove_recovery(path)
        if self.last_written is not None:
            try:
                self.last_written.unlink()
            except OSError:
                pass
            self.last_written = None
