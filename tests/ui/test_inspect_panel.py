"""The Inspect dock, offscreen, against a fake inspection worker (``fake_inspect_worker.py``, the
protocol with canned arrays): lazy start, the model sent and re-sent after edits, the canvas
selection followed, stale replies dropped, every view drawn, weights from training, crashes
restarted with a message, clear messages for an invalid graph, and the worker ended on close.
The real worker (TensorFlow) is exercised by ``bench/bench_inspect_ui.py`` and the screenshots.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from netbuilder.core.graph import Graph
from netbuilder.core.project import project_to_dict

FAKE = str(Path(__file__).with_name("fake_inspect_worker.py"))
WAIT = 30000


class Worker:
    """The fake worker's command line and the requests it received."""

    def __init__(self, folder: Path) -> None:
        self.log = folder / "requests.jsonl"
        self.options: list[str] = []

    def command(self) -> list[str]:
        return [sys.executable, FAKE, str(self.log), *self.options]

    def requests(self, action: str | None = None) -> list[dict]:
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return [r for r in found if action is None or r["action"] == action]


@pytest.fixture
def worker(tmp_path):
    return Worker(tmp_path)


@pytest.fixture
def inspect(make_window, worker, qtbot):
    """``inspect(graph=None, options=())``: a window whose Inspect dock talks to the fake
    worker, shown, with the first picture drawn."""

    def make(graph: Graph | None = None, options: tuple[str, ...] = (), show: bool = True):
        window = make_window(graph)
        worker.options = list(options)
        window.inspect_panel.client.command = worker.command()
        if show:
            window.inspect_dock.show()
            window.inspect_dock.raise_()
        return window

    yield make


def showing(panel) -> str | None:
    """What the feature-map view shows (None before the views exist)."""
    return None if panel.maps is None else panel.maps.showing()


def drawn_views(panel) -> list[str]:
    seen: list[str] = []
    panel.drawn.connect(seen.append)
    return seen


def test_the_worker_starts_only_when_the_dock_is_shown(inspect, worker, qtbot):
    window = inspect(show=False)
    panel = window.inspect_panel
    window.select_node(window.graph.node_by_name("conv2d").id)
    qtbot.wait(200)
    assert not panel.client.running()
    assert panel.maps is None          # pyqtgraph is not even imported for the views yet
    window.inspect_dock.show()
    window.inspect_dock.raise_()
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    [load] = worker.requests("load")
    assert load["project"] == project_to_dict(window.project)
    assert load["weights"] is None
    assert isinstance(load["id"], int)


def test_feature_maps_of_the_first_conv_layer_then_of_the_selected_layer(inspect, worker, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    assert panel.maps_caption.text() == "conv2d (Conv2D) · 26×26×4 · 4 channels"
    assert "Model test · 1,234 parameters" in panel.status_label.text()
    assert "untrained" in panel.weights_label.text()
    image = panel.maps.grid_image
    # 4 channels of 26×26 in a 2×2 grid with a 1-pixel gap
    assert image.shape == (53, 53, 3) and image.dtype == np.uint8
    assert (image[26, :] == 255).all() and (image[:, 26] == 255).all()
    request = worker.requests("activations")[0]
    assert request["layers"] == ["conv2d"]
    assert request["input"] == {"kind": "dataset", "source": "digits", "options": {},
                                "index": 0, "split": "train"}
    assert "label: <b>7</b>" in panel.inputs.caption.text()
    assert "28×28×1" in panel.inputs.caption.text()
    assert panel.inputs.preview.pixmap() is not None and not panel.inputs.preview.pixmap().isNull()

    dense = window.graph.node_by_name("dense")
    seen = drawn_views(panel)
    window.select_node(dense.id)
    qtbot.waitUntil(lambda: seen == ["maps"], timeout=WAIT)
    assert panel.maps.showing() == "vector"
    assert panel.maps_caption.text() == "dense (Dense) · 10 values"
    assert worker.requests("activations")[-1]["layers"] == ["dense"]
    assert len(worker.requests("load")) == 1      # selecting never rebuilds the model


def test_normalisation_colormap_and_zoom_redraw_the_grid(inspect, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    per_channel = panel.maps.grid_image.copy()
    panel.per_channel_check.setChecked(False)
    shared = panel.maps.grid_image.copy()
    assert not np.array_equal(per_channel, shared)
    # the canned maps count up through the channels: with one range the last channel is the
    # brightest, with a range per channel every channel looks the same
    assert np.array_equal(per_channel[:26, :26], per_channel[27:, 27:])
    assert not np.array_equal(shared[:26, :26], shared[27:, 27:])
    panel.colormap_combo.setCurrentText("gray")
    gray = panel.maps.grid_image
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()
    assert panel.maps.channel_at(30, 3) == 1
    assert panel.maps.channel_at(26, 3) is None       # the gap
    assert panel.maps.channel_at(3, 30) == 2
    panel.maps.select_channel(3)
    assert panel.maps.zoom_label.text().startswith("channel 3")
    assert panel.maps.highlight.isVisible()
    shot = panel.grab()
    assert shot.width() > 100 and not shot.isNull()


def test_a_reply_for_an_older_selection_is_dropped(inspect, worker, qtbot):
    window = inspect(options=("delay=0.4",))
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    seen = drawn_views(panel)
    conv = window.graph.node_by_name("conv2d")
    dense = window.graph.node_by_name("dense")
    window.select_node(dense.id)
    qtbot.wait(50)
    window.select_node(conv.id)
    qtbot.wait(50)
    window.select_node(dense.id)
    qtbot.waitUntil(lambda: len(worker.requests("activations")) == 4, timeout=WAIT)
    qtbot.waitUntil(lambda: seen == ["maps"], timeout=WAIT)
    qtbot.wait(1200)                 # the older replies arrive too, and are dropped
    assert seen == ["maps"]
    assert panel.maps.showing() == "vector"
    assert panel.pending == {}


def test_edits_rebuild_the_model_once_after_a_pause(inspect, worker, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    conv = window.graph.node_by_name("conv2d")
    window.graph.move(conv.id, (40, 110))            # moving a layer changes nothing
    for filters in (8, 12, 16):
        window.graph.set_param(conv.id, "filters", filters)
    qtbot.waitUntil(lambda: len(worker.requests("load")) == 2, timeout=WAIT)
    qtbot.wait(600)
    loads = worker.requests("load")
    assert len(loads) == 2
    params = {n["name"]: n.get("params", {}) for n in loads[-1]["project"]["graph"]["nodes"]}
    assert params["conv2d"]["filters"] == 16
    qtbot.waitUntil(lambda: worker.requests()[-1]["action"] == "activations", timeout=WAIT)


def test_an_invalid_graph_is_explained_and_nothing_is_sent(inspect, worker, qtbot):
    graph = Graph()
    a = graph.add_node("Input", {"shape": [8]})
    b = graph.add_node("Conv2D", {"filters": 4, "kernel_size": 3}, position=(0, 110))
    graph.connect(a.id, b.id)
    window = inspect(graph)
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: "Fix the graph first" in panel.status_label.text(), timeout=WAIT)
    assert panel.maps.showing() == "message"
    assert "Fix the graph first" in panel.maps.message.text()
    assert not panel.client.running()
    assert worker.requests() == []

    empty = inspect(Graph())
    qtbot.waitUntil(lambda: "empty" in empty.inspect_panel.status_label.text(), timeout=WAIT)


def test_a_build_error_from_the_worker_is_shown(inspect, qtbot):
    window = inspect(options=("build-error",))
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: "Conv2D expects" in panel.status_label.text(), timeout=WAIT)
    assert panel.status_label.text().startswith("Fix the graph first: conv2d")
    assert "Conv2D expects" in panel.maps.message.text()


def test_a_crashed_worker_is_restarted_with_a_message(inspect, worker, qtbot):
    window = inspect(options=("crash-on=activations",))
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    assert "restarted after" in panel.status_label.text()
    assert "exit status 3" in panel.status_label.text()
    assert len(worker.requests("load")) == 2              # the model was sent again
    assert panel.client.running()


def test_the_other_tabs_draw_filters_predictions_gradcam_and_statistics(inspect, worker, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    seen = drawn_views(panel)

    panel.show_view("filters")
    qtbot.waitUntil(lambda: "filters" in seen, timeout=WAIT)
    assert worker.requests("filters")[-1]["layer"] == "conv2d"
    assert panel.filters.image is not None and panel.filters.image.shape == (7, 7, 3)
    assert panel.filters_caption.text() == "conv2d · 4 kernels of 3×3 over 1 input channel"
    assert panel.filter_channel_combo.count() == 1          # one input channel: no choice

    panel.show_view("predict")
    qtbot.waitUntil(lambda: "predict" in seen, timeout=WAIT)
    assert panel.predictions.rows == [("7", 0.8), ("1", 0.15), ("3", 0.05)]
    assert worker.requests("predict")[-1]["top"] == 5
    assert "Class names from the dataset" in panel.predictions.note.text()
    assert panel.predict_caption.text() == "Predicted: 7 (80.0%)"

    panel.show_view("gradcam")
    qtbot.waitUntil(lambda: "gradcam" in seen, timeout=WAIT)
    assert worker.requests("gradcam")[-1]["class_index"] is None
    assert panel.gradcam.heatmap.shape == (28, 28)
    assert "class 7" in panel.gradcam_caption.text()
    assert panel.class_combo.count() == 11               # "top prediction" and 10 classes
    assert panel.cam_layer_combo.findData("conv2d") > 0
    panel.class_combo.setCurrentIndex(panel.class_combo.findData(3))
    panel.class_combo.activated.emit(panel.class_combo.currentIndex())
    qtbot.waitUntil(lambda: seen.count("gradcam") == 2, timeout=WAIT)
    assert worker.requests("gradcam")[-1]["class_index"] == 3
    assert "class 3" in panel.gradcam_caption.text()
    panel.alpha_slider.setValue(80)
    assert panel.gradcam.heat_item.opacity() == pytest.approx(0.8)

    panel.show_view("stats")
    qtbot.waitUntil(lambda: "stats" in seen, timeout=WAIT)
    stats = worker.requests("stats")[-1]["input"]
    assert stats["count"] == 64 and stats["kind"] == "dataset"
    assert panel.stats.rowCount() == len(window.graph.nodes)
    rows = {panel.stats.item(r, 0).text(): panel.stats.item(r, 3).text()
            for r in range(panel.stats.rowCount())}
    assert rows["conv2d"] == "75%" and rows["dense"] == "—"
    assert "with half or more dead ReLUs" in panel.stats_caption.text()


def test_inputs_sample_images_and_files(inspect, worker, qtbot, tmp_path):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    chooser = panel.inputs
    chooser.kind_combo.setCurrentIndex(3)
    chooser.kind_combo.activated.emit(3)
    qtbot.waitUntil(lambda: worker.requests("activations")[-1]["input"]["kind"]
                    == "sample_image", timeout=WAIT)
    assert worker.requests("activations")[-1]["input"] == {"kind": "sample_image",
                                                           "name": "flower.jpg"}
    assert not chooser.index_spin.isVisibleTo(chooser)
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"not really a png")
    chooser.ask_file = lambda: ""                        # cancelled: nothing changes
    chooser.kind_combo.setCurrentIndex(1)
    chooser.kind_combo.activated.emit(1)
    assert chooser.kind() == "sample_image"
    chooser.ask_file = lambda: str(picture)
    chooser.kind_combo.setCurrentIndex(1)
    chooser.kind_combo.activated.emit(1)
    qtbot.waitUntil(lambda: worker.requests("activations")[-1]["input"]
                    == {"kind": "file", "path": str(picture)}, timeout=WAIT)
    assert chooser.file_button.text() == "cat.png"


def test_weights_follow_training_runs_and_live_epochs(inspect, worker, qtbot, tmp_path):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    seen = drawn_views(panel)
    run = tmp_path / "run-1"
    window.training_panel.finished.emit({"event": "finished", "output_dir": str(run),
                                         "model_path": str(run / "model.keras")})
    qtbot.waitUntil(lambda: len(worker.requests("reload_weights")) == 1, timeout=WAIT)
    assert worker.requests("reload_weights")[0]["weights"] == str(run / "model.keras")
    assert "from run run-1" in panel.weights_label.text()
    qtbot.waitUntil(lambda: seen == ["maps"], timeout=WAIT)      # redrawn with them

    # live weights: the checkbox asks the training job for them
    panel.live_check.setChecked(True)
    job = window.training_panel.job(tmp_path / "run-2")
    assert job["latest_weights"] is True
    panel.training_event({"event": "weights", "path": str(tmp_path / "latest.weights.h5")})
    window.training_panel.event_received.emit({"event": "epoch", "epoch": 2, "logs": {}})
    window.training_panel.event_received.emit({"event": "weights",
                                               "path": str(tmp_path / "latest.weights.h5")})
    assert "live (epoch 2)" in panel.weights_label.text()
    qtbot.waitUntil(lambda: len(worker.requests("reload_weights")) == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=WAIT)
    panel.live_check.setChecked(False)
    assert window.training_panel.job(tmp_path / "run-3")["latest_weights"] is False


def test_weights_that_no_longer_fit_fall_back_to_untrained(inspect, worker, qtbot, tmp_path):
    window = inspect(options=("weights-error",))
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    panel.weights = str(tmp_path / "model.keras")
    panel.weights_text = "from run x"
    window.graph.set_param(window.graph.node_by_name("conv2d").id, "filters", 6)
    qtbot.waitUntil(lambda: len(worker.requests("load")) == 3, timeout=WAIT)
    loads = worker.requests("load")
    assert loads[1]["weights"] == str(tmp_path / "model.keras") and loads[2]["weights"] is None
    qtbot.waitUntil(lambda: "don't fit" in panel.weights_label.text(), timeout=WAIT)
    assert "untrained" in panel.weights_label.text()


def test_the_canvas_menu_and_the_view_menu_open_the_dock_on_a_layer(inspect, qtbot):
    window = inspect(show=False)
    conv = window.graph.node_by_name("conv2d")
    menu = window.scene.node_menu(conv.id)
    action = next(a for a in menu.actions() if a.text() == "Inspect Layer")
    action.trigger()
    assert window.inspect_dock.isVisible()
    assert window.inspect_panel.selection == ["conv2d"]
    assert window.inspect_panel.current_view() == "maps"
    assert window.inspect_dock.toggleViewAction() in window.view_menu.actions()
    assert window.inspect_action in window.view_menu.actions()
    qtbot.waitUntil(lambda: showing(window.inspect_panel) == "maps", timeout=WAIT)


def test_a_block_instance_is_inspected_at_its_output_layer(make_window):
    from netbuilder.core import blocks_library as bl
    from netbuilder.core.graph import Graph

    graph = Graph()
    bl.add_to_graph(graph, bl.conv_bn_relu())
    x = graph.add_node("Input", {"shape": [16, 16, 3]})
    unit = graph.add_node("Block", {"block": "conv_bn_relu"}, name="stem", position=(0, 110))
    graph.connect(x.id, unit.id)
    window = make_window(graph)
    window.select_node(unit.id)
    inner = graph.blocks["conv_bn_relu"].graph.nodes[graph.blocks["conv_bn_relu"].outputs[0][0]]
    assert window.inspect_panel.selection == [f"stem_{inner.name}"]
    window.select_node(x.id)
    assert window.inspect_panel.selection == [x.name]


def test_closing_the_window_ends_the_worker(inspect, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    process = panel.client.process
    assert process is not None
    pid = process.processId()
    window.close()
    assert panel.client.process is None
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_the_real_worker_draws_the_maps_and_predictions_of_a_small_cnn(make_window, qtbot):
    """End to end with ``python -m netbuilder.runtime.workers.inspection`` (TensorFlow)."""
    pytest.importorskip("keras")
    window = make_window()
    panel = window.inspect_panel
    window.inspect_dock.show()
    window.inspect_dock.raise_()
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=180000)
    assert panel.maps.maps.shape == (26, 26, 32)
    assert panel.maps_caption.text().startswith("conv2d (Conv2D) · 26×26×32 · 32 channels")
    assert panel.model["params"] == 54410
    assert (panel.maps.maps >= 0).all()                    # the layer's ReLU
    seen = drawn_views(panel)
    panel.show_view("predict")
    qtbot.waitUntil(lambda: "predict" in seen, timeout=60000)
    assert len(panel.predictions.rows) == 5
    assert 0 < sum(p for _, p in panel.predictions.rows) <= 1.0 + 1e-6
    window.close()
    assert not panel.client.running()


def test_filters_of_a_layer_that_is_not_a_convolution_are_explained(inspect, worker, qtbot):
    window = inspect()
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "maps", timeout=WAIT)
    window.select_node(window.graph.node_by_name("dense").id)
    panel.show_view("filters")
    qtbot.waitUntil(lambda: panel.filters.stack.currentWidget() is panel.filters.message
                    and "dense" in panel.filters.message.text(), timeout=WAIT)
    assert "dense is not a convolution" in panel.filters.message.text()
    assert "Try conv2d" in panel.filters.message.text()
    assert worker.requests("filters") == []


def test_missing_imagenet_names_and_a_malformed_reply_are_messages(inspect, qtbot):
    window = inspect(options=("imagenet-missing", "bad-array"))
    panel = window.inspect_panel
    qtbot.waitUntil(lambda: showing(panel) == "message"
                    and "Cannot show" in panel.maps.message.text(), timeout=WAIT)
    assert "array data has 3 bytes" in panel.maps.message.text()
    seen = drawn_views(panel)
    panel.show_view("predict")
    qtbot.waitUntil(lambda: "predict" in seen, timeout=WAIT)
    note = panel.predictions.note.text()
    assert "Classes by index" in note
    assert "imagenet_class_index.json in ~/.keras/models" in note


def test_the_gradcam_view_has_a_colour_scale_in_the_heat_maps_colours(qtbot):
    from netbuilder.ui.panels.inspect.views import GradCamView, lookup_table

    view = GradCamView()
    qtbot.addWidget(view)
    view.set_result(np.zeros((8, 8, 1), np.float32), np.linspace(0, 1, 64).reshape(8, 8))
    assert view.scale.levels() == (0.0, 1.0)
    label = view.scale.getAxis("left").labelText
    assert "low" in label and "high" in label

    def end_colours() -> list[list[int]]:
        cmap = view.scale.colorMap()
        return [list(cmap.map(x, mode="byte")[:3]) for x in (0.0, 1.0)]

    table = lookup_table("inferno")
    assert end_colours() == [list(table[0]), list(table[-1])]
    view.set_colormap("gray")
    assert end_colours() == [[0, 0, 0], [255, 255, 255]]
