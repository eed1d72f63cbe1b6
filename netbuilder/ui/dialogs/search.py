"""Train ▸ Search…: what a hyperparameter search optimises and how (objective, direction, trials,
epochs per trial, time budget, sampler, pruning, trials at once), over the parameters marked ⚲
for search. The Search dock (``ui/panels/search/panel.py``) runs it: trials at once are that
many search processes on one study, and with several GPUs worker k trains on GPU k mod count.

Train ▸ Open Search Study…: an Optuna storage (a URL, or an SQLite or journal file chosen with
Browse…) and, optionally, a study name, whose study the Search dock then shows and resumes."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netbuilder.runtime.search import worker_gpus
from netbuilder.ui.dialogs.common import FormDialog, add_rows

OBJECTIVES = ("val_loss", "val_accuracy", "loss", "accuracy")
SAMPLERS = (("tpe", "TPE (Bayesian, tree-structured)"), ("random", "Random"),
            ("grid", "Grid (every combination)"), ("gp", "Gaussian process (needs PyTorch)"))
PRUNERS = (("none", "None: every trial runs all its epochs"),
           ("median", "Median: stop a trial worse than the median after an epoch"),
           ("hyperband", "Hyperband"))
DIRECTIONS = (("auto", "Automatic (minimise losses, maximise the rest)"),
              ("minimize", "Minimise"), ("maximize", "Maximise"))


def _combo(items: Sequence[tuple[str, str]]) -> QComboBox:
    combo = QComboBox()
    for key, text in items:
        combo.addItem(text, key)
    return combo


class SearchDialog(QDialog):
    """The search's settings; ``config()`` gives them as ``runtime.search.SearchConfig``'s
    fields, with ``at_once`` (parallel search processes) and ``gpus`` (each one's GPU, or
    None). ``space`` is the marked parameters as text (``dense.units=16..128``); ``problem``
    says why there is nothing to search (then Start is off); ``gpus`` the GPUs the workers take
    turns on (``runtime.search.search_gpus``; none on a CPU-only machine); ``epochs_searched``:
    training.epochs is marked ⚲, which wins over epochs per trial (greyed out then);
    ``target``: where the search goes when that is not the runs folder (a line above the
    form)."""

    def __init__(self, space: Sequence[str], problem: str | None, epochs: int,
                 previous: dict[str, Any] | None = None, parent: QWidget | None = None,
                 gpus: Sequence[int] = (), epochs_searched: bool = False,
                 target: str | None = None) -> None:
        super().__init__(parent)
        self.gpu_list = list(gpus)
        self.setWindowTitle("Hyperparameter Search")
        layout = QVBoxLayout(self)
        what = QLabel()
        what.setWordWrap(True)
        what.setTextFormat(Qt.TextFormat.RichText)
        if problem:
            what.setText(f"<span style='color:#d93025'>{escape(problem)}</span><br>Mark values "
                         "with ⚲ in the Inspector (a layer's parameters) or beside the Training "
                         "dock's epochs, batch size, optimizer and learning rate.")
        else:
            what.setText("<b>Searched</b> (⚲ in the Inspector and the Training dock):<br>"
                         + "<br>".join(f"&nbsp;&nbsp;{escape(s)}" for s in space))
        layout.addWidget(what)
        if target:
            where = QLabel(target)
            where.setObjectName("searchTarget")
            where.setWordWrap(True)
            where.setStyleSheet("color: #5f6873;")
            layout.addWidget(where)
        form = QFormLayout()
        self.objective = QComboBox()
        self.objective.setEditable(True)
        self.objective.addItems(list(OBJECTIVES))
        self.objective.setToolTip("The metric each trial is judged by, at its last epoch: any "
                                  "key of the training history (val_loss, val_accuracy, …)")
        self.direction = _combo(DIRECTIONS)
        self.trials = QSpinBox()
        self.trials.setRange(1, 10000)
        self.trials.setValue(10)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.epochs.setValue(max(1, epochs))
        self.timeout = QDoubleSpinBox()
        self.timeout.setRange(0, 7 * 24 * 60)
        self.timeout.setDecimals(0)
        self.timeout.setSuffix(" min")
        self.timeout.setSpecialValueText("none")
        self.timeout.setToolTip("Start no trial after this many minutes (none: run every trial)")
        self.sampler = _combo(SAMPLERS)
        self.pruner = _combo(PRUNERS)
        self.pruner.setCurrentIndex(1)
        self.at_once = QSpinBox()
        self.at_once.setRange(1, 64)
        self.at_once.setValue(1)
        self.at_once.setToolTip("Trials trained in parallel: that many search processes share "
                                "one study (Optuna). To search on several machines, run "
                                "'netbuilder search' on each with the same --storage and "
                                "--study (see the README).")
        form.addRow("Objective", self.objective)
        form.addRow("Direction", self.direction)
        form.addRow("Trials", self.trials)
        form.addRow("Epochs per trial", self.epochs)
        self.epochs_note = QLabel("training.epochs is marked ⚲: each trial's epochs are "
                                  "searched (the mark wins over this)")
        self.epochs_note.setStyleSheet("color: #5f6873;")
        self.epochs_note.setWordWrap(True)
        self.epochs.setEnabled(not epochs_searched)
        self.epochs_note.setVisible(epochs_searched)
        form.addRow("", self.epochs_note)
        form.addRow("Time budget", self.timeout)
        form.addRow("Sampler", self.sampler)
        form.addRow("Pruning", self.pruner)
        self.at_once_note = QLabel()
        self.at_once_note.setStyleSheet("color: #5f6873;")
        self.at_once_note.setWordWrap(True)
        form.addRow("Trials at once", self.at_once)
        form.addRow("", self.at_once_note)
        self.at_once.valueChanged.connect(lambda _v: self._show_placement())
        self._show_placement()
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.start_button = buttons.addButton("Start Search",
                                              QDialogButtonBox.ButtonRole.AcceptRole)
        self.start_button.setEnabled(problem is None)
        self.start_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        if previous:
            self.set_config(previous)

    def _show_placement(self) -> None:
        n = self.at_once.value()
        gpus = self.gpu_list
        if len(gpus) >= 2 and n >= 2:
            places = ", ".join(f"{k + 1} on gpu:{g}" for k, g in
                               enumerate(worker_gpus(min(n, 8), gpus)))
            text = (f"one process per trial, each on its own GPU in turn (worker k on GPU k "
                    f"mod {len(gpus)}): {places}{'…' if n > 8 else ''}")
        elif gpus:
            text = ("trials at once share the one GPU" if n >= 2 else
                    "one trial at a time; more share the GPU")
        else:
            text = ("no GPU: trials at once share this machine's CPU cores (each trains more "
                    "slowly)")
        self.at_once_note.setText(text + ". Several machines: netbuilder search --storage")

    def config(self) -> dict[str, Any]:
        """The search's settings: the worker job's ``config`` (``runtime.search.SearchConfig``
        fields) with ``at_once`` and ``gpus`` (each worker's GPU or None)."""
        direction = self.direction.currentData()
        minutes = self.timeout.value()
        at_once = self.at_once.value()
        return {"objective": self.objective.currentText().strip() or "val_loss",
                "direction": None if direction == "auto" else direction,
                "trials": self.trials.value(), "epochs": self.epochs.value(),
                "timeout": minutes * 60 if minutes > 0 else None,
                "sampler": self.sampler.currentData(), "pruner": self.pruner.currentData(),
                "at_once": at_once, "gpus": worker_gpus(at_once, self.gpu_list)}

    def set_config(self, config: dict[str, Any]) -> None:
        self.objective.setCurrentText(str(config.get("objective") or "val_loss"))
        self.direction.setCurrentIndex(max(0, self.direction.findData(
            config.get("direction") or "auto")))
        self.trials.setValue(int(config.get("trials") or 10))
        if config.get("epochs"):
            self.epochs.setValue(int(config["epochs"]))
        self.timeout.setValue((config.get("timeout") or 0) / 60)
        self.sampler.setCurrentIndex(max(0, self.sampler.findData(config.get("sampler"))))
        self.pruner.setCurrentIndex(max(0, self.pruner.findData(config.get("pruner"))))
        self.at_once.setValue(int(config.get("at_once") or 1))


SQLITE_HEADER = b"SQLite format 3\x00"
STORAGE_SCHEMES = ("sqlite:", "journal:", "postgresql", "mysql", "oracle", "mssql")
NEWEST = "newest study in the storage"
STUDY_FILES = ("Optuna studies (*.db *.sqlite *.sqlite3 *.db3 *.log *.journal *.jsonl);;"
               "All files (*)")


def storage_url_for_file(path: str | Path) -> str:
    """The Optuna storage URL of a study file: ``sqlite:///PATH`` for an SQLite database (by
    its first bytes), ``journal:PATH`` for anything else (a journal file); PATH absolute."""
    file = Path(path).expanduser().resolve()
    try:
        with file.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:
        head = b""
    if head == SQLITE_HEADER or (not head and file.suffix.lower() in
                                 (".db", ".sqlite", ".sqlite3", ".db3")):
        return f"sqlite:///{file}"
    return f"journal:{file}"


def storage_problem(url: str) -> str | None:
    """Why ``url`` is not an Optuna storage URL this dialog can take (None: it may be one;
    whether it opens, the search worker finds out)."""
    if not url.startswith(STORAGE_SCHEMES):
        return (f"{url!r} is not a storage URL: give sqlite:///PATH.db, journal:PATH or "
                "postgresql://user@host/db, or Browse… for a study file")
    if url.startswith("sqlite:///") or url.startswith("journal:"):
        rest = (url[len("sqlite:///"):].split("?", 1)[0] if url.startswith("sqlite:")
                else url.removeprefix("journal:").removeprefix("//"))
        if not rest:
            return f"{url!r} names no file: Browse… for the study file"
        if not Path(rest).expanduser().is_file():
            return f"there is no file {rest}: Browse… for the study file"
    return None


class OpenStudyDialog(FormDialog):
    """Train ▸ Open Search Study…: ``storage()`` (a URL; "" for the study in the project's runs
    folder) and ``study()`` (a name; "" for the storage's newest study). ``studies`` are names
    to offer (those the last read of ``storage`` found); OK refuses a URL that is not one or
    a study file that is not there, with the reason."""

    def __init__(self, storage: str = "", study: str = "", studies: Sequence[str] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open Search Study")
        layout = QVBoxLayout(self)
        intro = QLabel("Show a study made by <tt>netbuilder search --storage URL --study "
                       "NAME</tt> (on this machine, or shared by several) in the Search dock. "
                       "Resume continues it in the same storage; its trials' runs go to this "
                       "project's runs folder.")
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(intro)
        form = QFormLayout()
        self.storage_edit = QLineEdit(storage)
        self.storage_edit.setObjectName("storageEdit")
        self.storage_edit.setPlaceholderText("empty: the study in this project's runs folder")
        self.storage_edit.setToolTip("An Optuna storage URL: sqlite:///PATH.db, journal:PATH "
                                     "(a journal file, e.g. on a shared disk), "
                                     "postgresql://user@host/db, mysql://…")
        self.storage_edit.setMinimumWidth(380)
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setToolTip("Choose an SQLite (.db) or journal file: it becomes "
                                      "its storage URL")
        self.browse_button.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.storage_edit, 1)
        row.addWidget(self.browse_button)
        self.study_combo = QComboBox()
        self.study_combo.setObjectName("studyCombo")
        self.study_combo.setEditable(True)
        self.study_combo.addItems([s for s in studies if s])
        self.study_combo.setCurrentText(study)
        line = self.study_combo.lineEdit()
        line.setPlaceholderText(NEWEST)
        self.study_combo.setToolTip("The study's name (--study); empty: the newest one. When "
                                    "the storage holds several, the Search dock offers them "
                                    "once it has read it.")
        note = QLabel("Several machines searching one study: run netbuilder search on each with "
                      "the same --storage and --study.")
        note.setWordWrap(True)
        note.setStyleSheet("color: #5f6873;")
        add_rows(form, ("Storage", row), ("Study", self.study_combo), ("", note))
        layout.addLayout(form)
        self.add_footer(layout, self.restore_defaults, "openStudyError")
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Open")
        self.buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).setToolTip(
            "Empty both fields: the study in this project's runs folder")

    def storage(self) -> str:
        return self.storage_edit.text().strip()

    def study(self) -> str:
        return self.study_combo.currentText().strip()

    def restore_defaults(self) -> None:
        self.storage_edit.clear()
        self.study_combo.setCurrentText("")
        self.show_error(None)

    def browse(self) -> None:
        """Ask for a study file and put its storage URL in the field."""
        start = self.storage_edit.text().strip()
        folder = ""
        for prefix in ("sqlite:///", "journal:"):
            if start.startswith(prefix):
                folder = str(Path(start.removeprefix(prefix).split("?", 1)[0]).parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open a Search Study File", folder,
                                              STUDY_FILES)
        if path:
            self.storage_edit.setText(storage_url_for_file(path))
            self.show_error(None)

    def accept(self) -> None:
        url = self.storage()
        if url and not url.startswith(STORAGE_SCHEMES) and Path(url).expanduser().is_file():
            url = storage_url_for_file(url)          # a path typed or pasted: its URL
            self.storage_edit.setText(url)
        problem = storage_problem(url) if url else None
        if problem:
            self.show_error(problem)
            self.layout().activate()                 # room for the error line
            hint = self.sizeHint()
            self.resize(max(self.width(), hint.width()), max(self.height(), hint.height()))
            return
        self.show_error(None)
        super().accept()
