"""The parameter editor's controls for a Keras Application (or any nested model): "Frozen" and
"Fine-tune from layer", each change one undo step (``Document.set_freezing``)."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from netbuilder.core import freezing
from netbuilder.ui.document import Document
from netbuilder.ui.features.applications.dialogs import MUTED
from netbuilder.ui.features.applications.queries import application_of
from netbuilder.ui.panels.parameters import NodeControls


def freeze_controls(document: Document, node_id: str) -> FreezeControls | None:
    """The controls for an Application's node (a ``ParameterEditor.control_hooks`` hook)."""
    if application_of(document.graph, node_id) is None:
        return None
    return FreezeControls(document, node_id)


class FreezeControls(NodeControls):
    """The controls for a nested model: "Frozen" and "Fine-tune from layer"."""

    ALL = "(all layers trainable)"

    def __init__(self, document: Document, node_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document, self.graph, self.node_id = document, document.graph, node_id
        block = freezing.block_of(self.graph, node_id)
        self.block = block
        app = block.application or {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        if app:
            weights = app.get("weights") or "none (random)"
            shape = app.get("input_shape")
            info = QLabel(
                f"<b>Keras Application {escape(app['name'])}</b><br>"
                f"input {escape('×'.join(str(d) for d in shape) if shape else 'any size')}, "
                f"include_top={app.get('include_top')}, pooling={app.get('pooling')}, "
                f"weights: {escape(str(weights))}")
            info.setWordWrap(True)
            info.setStyleSheet(MUTED)
            layout.addWidget(info)
        self.frozen = QCheckBox("Frozen (base.trainable = False)")
        self.frozen.setToolTip("Keep every weight of the model as it is during training; it "
                               "runs in inference mode (training=False).")
        layout.addWidget(self.frozen)
        row = QHBoxLayout()
        label = QLabel("Fine-tune from layer")
        self.layer_combo = QComboBox()
        self.layer_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.layer_combo.setMinimumContentsLength(10)  # long layer names must not widen the panel
        self.layer_combo.addItem(self.ALL)
        self.layer_combo.addItems([n.name for n in freezing.inner_layers(block)])
        self.layer_combo.setToolTip(
            "Layers from this one on train, the earlier ones stay frozen; BatchNormalization "
            "layers stay frozen too (they keep their ImageNet statistics).")
        row.addWidget(label)
        row.addWidget(self.layer_combo, 1)
        layout.addLayout(row)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setStyleSheet(MUTED)
        layout.addWidget(self.state_label)
        self.refresh()
        self.frozen.toggled.connect(self._frozen_toggled)
        self.layer_combo.activated.connect(self._layer_chosen)

    def refresh(self) -> None:
        if self.node_id not in self.graph.nodes:
            return
        node = self.graph.nodes[self.node_id]
        self.frozen.blockSignals(True)
        self.frozen.setChecked(not node.trainable)
        self.frozen.blockSignals(False)
        layer = freezing.fine_tune_layer(self.block)
        self.layer_combo.setCurrentText(layer if layer else self.ALL)
        self.layer_combo.setEnabled(node.trainable)
        result = self.graph.inference.results.get(self.node_id)
        text = f"Now: {freezing.describe(self.graph, self.node_id)}"
        if result is not None and result.ok:
            text += (f" · {result.trainable:,} trainable, {result.non_trainable:,} "
                     "non-trainable parameters")
        self.state_label.setText(text)

    def _frozen_toggled(self, on: bool) -> None:
        self.document.set_freezing(self.node_id, on)
        self.refresh()

    def _layer_chosen(self, _index: int) -> None:
        layer = self.layer_combo.currentText()
        if layer == self.ALL:
            self.document.set_freezing(self.node_id, False)
        else:
            self.document.set_freezing(self.node_id, None, fine_tune_from=layer)
        self.refresh()
