"""Keras Applications plugged into the editor: the "Recipes" menu, the palette's "Pretrained"
section, an Application node's look and recipes on the canvas, its freezing controls in the
parameter editor, and the flow from the dialog to a placed block (made in the background)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QMenu, QMenuBar, QMessageBox, QWidget
from shiboken6 import isValid

from netbuilder.core import freezing
from netbuilder.core.blocks import Block
from netbuilder.core.graph import Graph
from netbuilder.runtime.training.settings import SettingsError
from netbuilder.ui import theme
from netbuilder.ui.canvas.hooks import CanvasHooks
from netbuilder.ui.dialogs.import_model import Job
from netbuilder.ui.document import Document, Position
from netbuilder.ui.features.applications.dialogs import (
    ApplicationDialog,
    TwoStageDialog,
    ask_classes,
    load_application_names,
    make_application_block,
)
from netbuilder.ui.features.applications.freeze_controls import freeze_controls
from netbuilder.ui.features.applications.queries import FAMILY, application_of, node_look
from netbuilder.ui.panels.palette import LayerPalette, PaletteEntry
from netbuilder.ui.panels.parameters import ParameterEditor

PALETTE_KEY = "@application"
"""The palette's "Keras Application…" (not a layer type: it opens the dialog)."""
_SEARCH_WORDS = ("keras application pretrained transfer learning imagenet base model vgg16 "
                 "vgg19 resnet mobilenet efficientnet inception xception densenet nasnet "
                 "convnext")


class ApplicationActions(QObject):
    """The Keras Application flow of a window: the dialog, the background job that makes the
    block, placing it, and the recipes (from the Recipes menu and an Application's context
    menu). ``training_settings()`` gives the current training settings and
    ``apply_training_settings(settings)`` sets them (the training panel's)."""

    def __init__(self, document: Document, parent: QWidget,
                 training_settings: Callable[[], Any],
                 apply_training_settings: Callable[[Any], object]) -> None:
        super().__init__(parent)
        self.document = document
        self.parent_widget = parent
        self.training_settings = training_settings
        self.apply_training_settings = apply_training_settings
        self.job: Job | None = None

        def action(text: str, slot: Callable[[], object], tip: str) -> QAction:
            act = QAction(text, parent)
            act.setStatusTip(tip)
            act.triggered.connect(lambda _c=False: slot())
            return act

        self.application_action = action(
            "Keras &Application…", self.add_application,
            "Add a pretrained model (VGG16, ResNet50, MobileNetV2…) as one block")
        self.head_action = action(
            "Add &Classifier Head", lambda: self.add_head(),
            "GlobalAveragePooling2D → Dropout(0.5) → Dense(classes, softmax) after the selected "
            "layer")
        self.two_stage_action = action(
            "&Two-Stage Fine-Tuning…", lambda: self.two_stage(),
            "Train the head with the base frozen, then unfreeze its top layers with a lower "
            "learning rate")
        document.placers[PALETTE_KEY] = self._place_from_palette

    def add_menu(self, bar: QMenuBar) -> QMenu:
        """The "Recipes" menu."""
        self.menu = bar.addMenu("&Recipes")
        self.menu.addAction(self.application_action)
        self.menu.addSeparator()
        self.menu.addAction(self.head_action)
        self.menu.addAction(self.two_stage_action)
        return self.menu

    def register(self, hooks: CanvasHooks, palette: LayerPalette,
                 parameter_editor: ParameterEditor) -> None:
        """The node look and recipes on the canvas, the palette's "Pretrained" section, the
        freezing controls in the parameter editor."""
        hooks.node_looks.append(node_look)
        hooks.node_menus.append(self._menu_items)
        entry = PaletteEntry(
            PALETTE_KEY, "Keras Application…",
            "<b>Keras Application</b>: a pretrained model (VGG16, ResNet50, MobileNetV2…) as one "
            "block: choose its input, classifier and weights, then freeze it or fine-tune it. "
            "Double-click to choose.", theme.layer_icon(FAMILY), _SEARCH_WORDS, draggable=False)
        palette.set_section(FAMILY, [entry]).setExpanded(True)
        parameter_editor.control_hooks.append(freeze_controls)

    def _menu_items(self, menu: QMenu, node_id: str, ids: list[str]) -> None:
        """The recipes in an Application node's right-click menu."""
        if len(ids) != 1 or application_of(self.document.graph, node_id) is None:
            return
        menu.addSection("Transfer learning")
        head = menu.addAction("Add classifier head")
        head.setToolTip("GlobalAveragePooling2D → Dropout(0.5) → Dense(classes, softmax) after "
                        "it")
        head.triggered.connect(lambda _c=False: self.add_head(node_id))
        stages = menu.addAction("Two-stage fine-tuning…")
        stages.setToolTip("Train the head with the base frozen, then unfreeze its top layers "
                          "with a lower learning rate")
        stages.triggered.connect(lambda _c=False: self.two_stage(node_id))

    def _status(self, text: str) -> None:
        self.document.report(text)

    def _selected(self) -> str | None:
        return self.document.selected_one()

    # -- Keras Application… -----------------------------------------------------------------------

    def _place_from_palette(self, _key: str, _position: Position | None,
                            _after: str | None) -> None:
        self.add_application()  # the dialog, then a block made in the background

    def ask_application(self) -> tuple[dict[str, Any], bool] | None:
        """Ask which Application (tests replace this): ``(arguments, freeze)`` or None."""
        path = self.document.path
        start = str(path.parent) if path else str(Path.home())
        dialog = ApplicationDialog(self.parent_widget, start)
        names = Job(load_application_names, dialog)  # the real list, once Keras has loaded
        names.finished.connect(dialog.set_application_names)
        names.start()
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.request()
        finally:
            dialog.deleteLater()

    def add_application(self) -> None:
        request = self.ask_application()
        if request is not None:
            self.start(*request)

    def start(self, app: dict[str, Any], frozen: bool = False) -> bool:
        """Make the Application's block in the background and place it when ready (after the
        selected layer, or after a lone unconnected Input). False if one is being made."""
        if self.job is not None and self.job.running():
            self._status("A Keras Application is being made already")
            return False
        graph = self.document.graph
        after = self._selected()
        if after is None:
            free = [n for n in graph.inputs() if not graph.out_edges(n.id)]
            after = free[0].id if len(free) == 1 else None
        taken = list(graph.blocks)
        job = Job(lambda: make_application_block(app, taken), self)
        job.finished.connect(lambda block: self._ready(block, frozen, after, graph))
        job.failed.connect(self._failed)
        self.job = job
        self._status(f"Making {app['name']}… (Keras takes a few seconds; you can keep working)")
        job.start()
        return True

    def _ready(self, block: Block, frozen: bool, after: str | None, graph: Graph) -> None:
        self.job = None
        if not isValid(self.document) or self.document.graph is not graph:
            return  # another project meanwhile
        self._status("")
        if after is not None and after not in graph.nodes:
            after = None
        node_id = self.document.place_application(block, frozen, after)
        if node_id is not None:
            assert block.application is not None
            result = graph.inference.results.get(node_id)
            count = f": {result.params:,} parameters" if result is not None and result.ok else ""
            self._status(f"Added {block.application['name']}{count}")

    def _failed(self, message: str) -> None:
        self.job = None
        if not isValid(self.parent_widget):
            return
        self._status("")
        QMessageBox.critical(self.parent_widget, "Cannot add the Keras Application", message)

    # -- recipes ----------------------------------------------------------------------------------

    def ask_classes(self) -> int | None:
        return ask_classes(self.parent_widget, self.document.project.settings)

    def add_head(self, node_id: str | None = None, classes: int | None = None) -> list[str]:
        """The classifier-head recipe after ``node_id`` (the selected layer by default)."""
        node_id = node_id or self._selected()
        if node_id is None:
            self._status("Select the layer the classifier head goes after (e.g. the "
                         "Keras Application)")
            return []
        if classes is None:
            classes = self.ask_classes()
            if classes is None:
                return []
        return self.document.add_classifier_head(node_id, classes)

    def _application_node(self, node_id: str | None) -> str | None:
        graph = self.document.graph
        node_id = node_id or self._selected()
        if application_of(graph, node_id) is not None:
            return node_id
        apps = [n.id for n in graph.nodes.values() if application_of(graph, n.id) is not None]
        return apps[0] if len(apps) == 1 and node_id is None else None

    def ask_two_stage(self, block: Block) -> dict[str, Any] | None:
        """Ask for the fine-tuning layer, epochs and rate (tests replace this)."""
        dialog = TwoStageDialog(block, self.parent_widget)
        try:
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return None
            return dialog.values()
        finally:
            dialog.deleteLater()

    def two_stage(self, node_id: str | None = None) -> bool:
        """Two-stage fine-tuning of an Application: freeze it and set the training settings'
        fine_tune_from / fine_tune_epochs / fine_tune_learning_rate (one undo step)."""
        node_id = self._application_node(node_id)
        if node_id is None:
            self._status("Select the Keras Application to fine-tune")
            return False
        values = self.ask_two_stage(freezing.block_of(self.document.graph, node_id))
        if values is None:
            return False
        return self.document.set_up_two_stage(node_id, values, self._apply_training)

    def _apply_training(self, values: dict[str, Any]) -> str | None:
        """Set training settings fields (the training panel's settings, its undo command)."""
        try:
            settings = self.training_settings().updated(values)
        except SettingsError as err:
            return f"Cannot set up two-stage fine-tuning: {err}"
        self.apply_training_settings(settings)
        return None
