"""Drawing the inspection worker's replies in the Inspect dock's views: feature maps, filters,
predictions, Grad-CAM and statistics, with their captions, and the class and layer choices that
the replies fill (``InspectPanel`` takes these methods from ``ReplyDrawing``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox

from netbuilder.runtime.workers.protocol import decode_array
from netbuilder.ui.formatting import dims_text
from netbuilder.ui.panels.inspect.captions import (
    GRADCAM_TIP,
    filters_caption,
    gradcam_caption,
    maps_caption,
    predict_caption,
    predict_note,
    stats_caption,
    vector_caption,
)
from netbuilder.ui.panels.inspect.inputs import InputChooser

TOP_PREDICTION = "top prediction"
AUTO_LAYER = "last conv layer"


class ReplyDrawing:
    """The panel's ``_draw_<view>(result, context)`` methods (one per view) and what they fill.
    The views (``maps``...) are made by ``InspectPanel.ensure_views``."""

    model: dict[str, Any] | None
    class_names: list[str]
    inputs: InputChooser
    maps: Any
    filters: Any
    predictions: Any
    gradcam: Any
    stats: Any
    maps_caption: QLabel
    filters_caption: QLabel
    predict_caption: QLabel
    gradcam_caption: QLabel
    stats_caption: QLabel
    class_combo: QComboBox
    cam_layer_combo: QComboBox
    filter_channel_combo: QComboBox
    count_spin: QSpinBox

    def layer_info(self, name: str) -> dict[str, Any] | None:
        for entry in (self.model or {}).get("layers", []):
            if entry.get("name") == name:
                return entry
        return None

    def _fill_layer_combos(self) -> None:
        current = self.cam_layer_combo.currentData()
        self.cam_layer_combo.clear()
        self.cam_layer_combo.addItem(AUTO_LAYER, None)
        for entry in (self.model or {}).get("layers", []):
            shape = entry.get("output_shape")
            if entry.get("conv") and isinstance(shape, list) and len(shape) == 4:
                self.cam_layer_combo.addItem(str(entry["name"]), str(entry["name"]))
        index = self.cam_layer_combo.findData(current)
        self.cam_layer_combo.setCurrentIndex(max(0, index))

    def _fill_classes(self, names: list[str] | None) -> None:
        names = list(names or [])
        if names == self.class_names:
            return
        self.class_names = names
        current = self.class_combo.currentData()
        self.class_combo.clear()
        self.class_combo.addItem(TOP_PREDICTION, None)
        for i, name in enumerate(names):
            self.class_combo.addItem(f"{i}: {name}" if name != str(i) else str(i), i)
        index = self.class_combo.findData(current)
        self.class_combo.setCurrentIndex(max(0, index))

    def _draw_maps(self, result: dict[str, Any], layer: str) -> None:
        self.inputs.show_input(result)
        self._fill_classes(result.get("class_names"))
        entry = (result.get("layers") or {}).get(layer)
        if entry is None:
            raise ValueError(f"no output for {layer}")
        array = decode_array(entry["array"])
        shape = [int(v) for v in entry.get("shape") or array.shape]
        kind = entry.get("kind")
        info = self.layer_info(layer) or {}
        layer_type = f" ({info['type']})" if info.get("type") else ""
        if kind == "maps" and array.ndim == 3:
            self.maps.set_maps(array)
            text, tip = maps_caption(layer, layer_type, shape, array)
            self.maps_caption.setText(text)
            self.maps_caption.setToolTip(tip)
        elif kind == "vector" or array.ndim == 1:
            self.maps.set_vector(array)
            self.maps_caption.setText(vector_caption(layer, layer_type, array.size))
        elif array.ndim == 2:
            self.maps.set_maps(array)
            self.maps_caption.setText(f"{layer}{layer_type} · {dims_text(shape)} · shown as one "
                                      "image")
        else:
            self.maps.show_message(f"{layer}'s output has shape {dims_text(shape)}: it has no "
                                   "maps to show.")
            self.maps_caption.setText(f"{layer}{layer_type}")

    def _draw_filters(self, result: dict[str, Any], layer: str) -> None:
        kernels = decode_array(result["array"])
        rgb = bool(result.get("rgb"))
        cin = kernels.shape[-2]
        current = self.filter_channel_combo.currentData()
        self.filter_channel_combo.clear()
        self.filter_channel_combo.addItem(
            "colour (RGB)" if rgb else "the kernels" if cin == 1 else "mean of the inputs", None)
        for i in range(cin if cin > 1 else 0):
            self.filter_channel_combo.addItem(f"input channel {i}", i)
        index = self.filter_channel_combo.findData(current)
        self.filter_channel_combo.setCurrentIndex(max(0, index))
        self.filters.input_channel = self.filter_channel_combo.currentData()
        self.filters.set_kernels(kernels, rgb)
        self.filters_caption.setText(
            filters_caption(layer, result.get("shape") or list(kernels.shape), cin))

    def _filter_channel_chosen(self, _index: int) -> None:
        self.filters.set_input_channel(self.filter_channel_combo.currentData())

    def _draw_predict(self, result: dict[str, Any], _context: Any) -> None:
        self.inputs.show_input(result)
        self._fill_classes(result.get("class_names"))
        label = result.get("label")
        top = list(result.get("top") or [])
        tta = result.get("tta") if isinstance(result.get("tta"), dict) else None
        shown = list(tta.get("top") or []) if tta else top      # the bars: with TTA when on
        self.predictions.set_top(shown, predict_note(result),
                                 label if isinstance(label, int) else None)
        self.predict_caption.setText(predict_caption(top, tta))

    def _draw_gradcam(self, result: dict[str, Any], _context: Any) -> None:
        self.inputs.show_input(result)
        self._fill_classes(result.get("class_names"))
        image = decode_array(result["input_image"])
        heatmap = decode_array(result["heatmap"])
        self.gradcam.set_result(image, heatmap)
        self.gradcam_caption.setText(gradcam_caption(result))
        self.gradcam_caption.setToolTip(GRADCAM_TIP)

    def _draw_stats(self, result: dict[str, Any], _context: Any) -> None:
        layers = list(result.get("layers") or [])
        self.stats.set_layers(layers)
        self.stats_caption.setText(stats_caption(layers, self.count_spin.value()))
