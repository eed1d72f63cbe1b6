"""Keras Applications in the editor: the dialog (every constructor offered, the input rules said
at once, Keras' cache looked up in the background), placing one as a block node (undoable), the
Inspector's Frozen / Fine-tune controls with the summary's counts, and the recipes."""

from __future__ import annotations

import pytest

from netbuilder.core.graph import Graph
from netbuilder.ui.features.applications import dialogs as ad
from netbuilder.ui.features.applications.actions import PALETTE_KEY

keras = pytest.importorskip("keras")

VGG = {"name": "VGG16", "include_top": False, "pooling": None, "weights": None,
       "input_shape": [150, 150, 3], "classes": 1000}
BLOCK5 = 3 * (3 * 3 * 512 * 512 + 512)  # block5_conv1..3


@pytest.fixture(scope="module")
def names():
    return ad.load_application_names()


def test_the_dialog_offers_every_constructor_and_checks_the_input(qtbot, names):
    dialog = ad.ApplicationDialog()
    qtbot.addWidget(dialog)
    assert dialog.names() == list(ad.KNOWN_APPLICATIONS) == names  # the list shown at once
    dialog.set_application_names(names)
    assert dialog.current_name() == "VGG16"
    assert [s.value() for s in (dialog.height_spin, dialog.width_spin,
                                dialog.channels_spin)] == [224, 224, 3]
    dialog.height_spin.setValue(150)
    dialog.width_spin.setValue(150)
    assert dialog.ok.isEnabled()
    app, frozen = dialog.request()
    assert app == VGG and frozen is False
    # Keras counts it in the background once the choice has settled
    qtbot.waitUntil(lambda: dialog.preview.text() ==
                    "14,714,688 parameters · output (None, 4, 4, 512)", timeout=30000)

    dialog.height_spin.setValue(16)
    assert not dialog.ok.isEnabled() and "at least 32×32" in dialog.error.text()
    dialog.height_spin.setValue(150)
    dialog.include_top.setChecked(True)
    dialog.weights_imagenet.setChecked(True)
    assert dialog.freeze.isChecked()  # pretrained weights: frozen at first
    assert "224×224×3" in dialog.error.text() and not dialog.ok.isEnabled()
    with pytest.raises(ValueError):
        dialog.request()
    dialog.include_top.setChecked(False)
    assert dialog.ok.isEnabled()

    dialog.search.setText("mobilenetv3")
    assert dialog.current_name() == "MobileNetV3Large"
    assert [s.value() for s in (dialog.height_spin, dialog.width_spin,
                                dialog.channels_spin)] == [224, 224, 3]
    assert dialog.preview.text() == "Counting its parameters…"
    qtbot.waitUntil(lambda: "parameters · output" in dialog.preview.text(), timeout=60000)
    assert "parameters · output (None, 7, 7, 960)" in dialog.preview.text()


def test_the_dialog_says_whether_keras_cache_has_the_imagenet_file(qtbot, tmp_path,
                                                                  monkeypatch):
    from keras.src.backend import config

    monkeypatch.setattr(config, "keras_home", lambda: str(tmp_path))
    dialog = ad.ApplicationDialog()
    qtbot.addWidget(dialog)
    dialog.height_spin.setValue(150)
    dialog.width_spin.setValue(150)
    dialog.weights_imagenet.setChecked(True)
    qtbot.waitUntil(lambda: "Not in Keras' cache" in dialog.cache_status.text(), timeout=20000)
    assert "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5" in dialog.cache_status.text()
    target = tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    target.parent.mkdir()
    target.write_bytes(b"")
    dialog.width_spin.setValue(160)  # another choice: looked up again
    qtbot.waitUntil(lambda: "In Keras' cache" in dialog.cache_status.text(), timeout=20000)
    qtbot.waitUntil(lambda: not dialog.jobs_running(), timeout=20000)


def test_the_palette_entry_opens_the_dialog(make_window, qtbot):
    window = make_window(Graph(), "tl")
    item = window.palette.items[PALETTE_KEY]
    assert item.parent().text(0) == "Pretrained"
    window.palette.search.setText("vgg")
    assert not item.isHidden()
    window.palette.search.setText("zzz")
    assert item.isHidden()
    window.palette.search.setText("")
    asked = []
    window.application_actions.ask_application = lambda: asked.append(1)
    window.palette._activated(item)
    assert asked == [1]


def place_vgg(window, qtbot, frozen=True):
    window.application_actions.ask_application = lambda: (dict(VGG), frozen)
    window.application_actions.application_action.trigger()
    qtbot.waitUntil(lambda: window.application_actions.job is None, timeout=30000)
    return next(n.id for n in window.graph.nodes.values() if n.type == "Block")


def test_an_application_is_placed_frozen_with_a_head_and_fine_tuned(make_window, qtbot):
    window = make_window(Graph(), "tl")
    base = place_vgg(window, qtbot)
    graph = window.graph
    node = graph.nodes[base]
    assert node.name == "vgg16" and not node.trainable
    assert graph.blocks["vgg16"].application == VGG
    (inp,) = graph.inputs()
    assert tuple(inp.params["shape"]) == (150, 150, 3) and graph.in_edges(base)[0].src == inp.id
    item = window.scene.node_items[base]
    assert item.shape_line == "(None, 4, 4, 512)"
    assert (item.type_text, item.detail) == ("VGG16", "frozen")
    totals = graph.inference.totals()
    assert (totals.trainable, totals.non_trainable) == (0, 14_714_688)
    assert window.undo_stack.undoText() == "Add Keras Application VGG16"

    head = window.application_actions.add_head(base, classes=2)
    assert [graph.nodes[n].type for n in head] == ["GlobalAveragePooling2D", "Dropout", "Dense"]
    assert window.undo_stack.undoText() == "Add classifier head"
    totals = graph.inference.totals()
    assert (totals.trainable, totals.non_trainable) == (512 * 2 + 2, 14_714_688)
    summary = window.summary
    qtbot.waitUntil(lambda: "Non-trainable:</b> 14,714,688" in summary.totals.text(),
                    timeout=5000)

    # the Inspector: Frozen, then fine-tune from block5_conv1
    window.scene.select_node(base)
    controls = window.parameter_editor.node_controls
    assert controls is not None and controls.frozen.isChecked()
    assert not controls.layer_combo.isEnabled()
    controls.frozen.setChecked(False)
    assert graph.nodes[base].trainable
    controls.layer_combo.setCurrentText("block5_conv1")
    controls.layer_combo.activated.emit(controls.layer_combo.currentIndex())
    totals = graph.inference.totals()
    assert (totals.trainable, totals.non_trainable) == (BLOCK5 + 1026,
                                                         14_714_688 - BLOCK5)
    assert item.detail == "fine-tuned from block5_conv1"
    controls = window.parameter_editor.node_controls
    assert "fine-tuned from block5_conv1" in controls.state_label.text()
    assert controls.layer_combo.currentText() == "block5_conv1"
    window.undo_stack.undo()
    assert graph.inference.totals().trainable == 14_714_688 + 1026
    window.undo_stack.undo()
    controls = window.parameter_editor.node_controls  # rebuilt when the block's flags change
    assert graph.inference.totals().trainable == 1026 and controls.frozen.isChecked()
    window.undo_stack.redo()
    window.undo_stack.redo()
    assert graph.inference.totals().trainable == BLOCK5 + 1026

    # undo back to an empty model, redo back to the Application
    while window.undo_stack.canUndo():
        window.undo_stack.undo()
    assert not graph.nodes and not graph.blocks
    window.undo_stack.redo()
    assert graph.nodes[base].type == "Block" and "vgg16" in graph.blocks


def test_two_stage_fine_tuning_sets_the_training_settings(make_window, qtbot):
    window = make_window(Graph(), "tl")
    base = place_vgg(window, qtbot, frozen=False)
    actions = window.application_actions
    asked = []

    def ask(block):
        asked.append(ad.TwoStageDialog(block, window).layer.currentText())
        return {"fine_tune_from": "block5_conv1", "fine_tune_epochs": 5,
                "fine_tune_learning_rate": 1e-5}

    actions.ask_two_stage = ask
    window.scene.select_node(None)
    assert actions.two_stage()  # the one Application of the model
    assert asked == ["block5_conv1"]  # the suggested layer
    training = window.project.settings["training"]
    assert (training["fine_tune_from"], training["fine_tune_epochs"],
            training["fine_tune_learning_rate"]) == ("block5_conv1", 5, 1e-5)
    assert not window.graph.nodes[base].trainable  # stage 1 trains the head only
    window.undo_stack.undo()  # one step: settings and freezing
    assert window.graph.nodes[base].trainable
    assert "fine_tune_from" not in (window.project.settings.get("training") or {})


def test_the_right_click_menu_of_an_application_has_the_recipes(make_window, qtbot):
    window = make_window(Graph(), "tl")
    base = place_vgg(window, qtbot)
    menu = window.scene.node_menu(base)
    texts = [a.text() for a in menu.actions()]
    assert "Add classifier head" in texts and "Two-stage fine-tuning…" in texts
    window.project.settings["data"] = "cifar10"  # classes known from the data: not asked
    action = next(a for a in menu.actions() if a.text() == "Add classifier head")
    action.trigger()
    dense = [n for n in window.graph.nodes.values() if n.type == "Dense"]
    assert len(dense) == 1 and dense[0].params["units"] == 10
    plain = window.scene.node_menu(window.graph.inputs()[0].id)
    assert "Add classifier head" not in [a.text() for a in plain.actions()]


def test_a_failing_application_is_reported(make_window, qtbot, no_modal_dialogs, monkeypatch):
    window = make_window(Graph(), "tl")

    from netbuilder.runtime import keras_to_graph

    def fail(app, taken):
        raise ad.ApplicationError("VGG16: the ImageNet weights are not in Keras' cache")

    monkeypatch.setattr(keras_to_graph, "application_block", fail)
    assert window.application_actions.start(dict(VGG, weights="imagenet"), True)
    qtbot.waitUntil(lambda: bool(no_modal_dialogs), timeout=5000)
    kind, title, text = no_modal_dialogs[-1]
    assert title == "Cannot add the Keras Application"
    assert text == "VGG16: the ImageNet weights are not in Keras' cache"  # no class names
    assert not window.graph.nodes
