"""The warm engine (ui/engine.py): a spare worker with TensorFlow imported serves F5, Data
Preview and Inspect; it is replaced after each use and after it dies; a training crash leaves the
editor and the next request working. Behaviour only, no timings."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from netbuilder.ui import engine as engine_mod
from netbuilder.ui.engine import EnginePool, warm_engine_enabled

READY_MS = 240_000      # a spare imports TensorFlow at low priority on a busy machine


@pytest.fixture
def warm(monkeypatch):
    monkeypatch.setenv(engine_mod.ENV_SWITCH, "1")


def ready_spare(pool: EnginePool, qtbot) -> int:
    """Prepare a spare now (not after the idle delay) and wait until it is ready: its pid."""
    pool.prepare()
    qtbot.waitUntil(lambda: pool.state == "ready", timeout=READY_MS)
    pid = pool.spare_pid()
    assert pid
    return pid


def test_the_environment_and_the_setting_turn_it_off(monkeypatch, window):
    assert not warm_engine_enabled()            # the tests' environment
    assert window.engines.action in window.view_menu.actions()
    monkeypatch.setenv(engine_mod.ENV_SWITCH, "1")
    assert warm_engine_enabled()
    window.engines.action.setChecked(False)     # View ▸ Warm TensorFlow Engine, remembered
    assert not warm_engine_enabled() and window.engines.state == "off"
    window.engines.prepare()
    assert window.engines.spare is None


def test_a_broken_engine_is_retried_with_a_back_off_then_given_up(warm, monkeypatch, qtbot):
    monkeypatch.setattr(engine_mod, "RETRY_MS", (10, 10, 10, 10))
    pool = EnginePool()
    pool.command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    said: list[str] = []
    pool.message.connect(said.append)
    pool.prepare()
    qtbot.waitUntil(lambda: pool.state == "failed", timeout=30000)
    assert pool.failures == engine_mod.MAX_FAILURES
    assert said.count("Preparing TensorFlow…") == engine_mod.MAX_FAILURES
    assert "exit status 3" in said[-1]
    pool.shutdown()


@pytest.mark.slow
def test_an_engine_killed_while_idle_is_replaced(warm, monkeypatch, qtbot):
    pytest.importorskip("keras")
    monkeypatch.setattr(engine_mod, "RETRY_MS", (100, 100, 100, 100))
    pool = EnginePool()
    first = ready_spare(pool, qtbot)
    os.kill(first, signal.SIGKILL)
    qtbot.waitUntil(lambda: pool.spare_pid() not in (None, first), timeout=30000)
    qtbot.waitUntil(lambda: pool.state == "ready", timeout=READY_MS)
    assert pool.spare_pid() != first
    pool.shutdown()


@pytest.mark.slow
def test_requests_take_the_ready_engine_and_a_training_crash_harms_nothing(
        warm, make_window, qtbot):
    pytest.importorskip("keras")
    window = make_window()
    pool = window.engines
    panel = window.training_panel
    panel.form.data_combo.set_source("digits")
    panel.form.epochs_spin.setValue(50)

    # F5 takes the spare; the training process is killed mid-run
    spare = ready_spare(pool, qtbot)
    assert window.train()
    assert panel.client.pid() == spare and pool.taken == 1
    qtbot.waitUntil(lambda: any(e.get("event") == "batch" for e in panel.events),
                    timeout=READY_MS)
    panel.kill()
    qtbot.waitUntil(lambda: not panel.is_running(), timeout=30000)
    assert panel.terminal is not None and panel.terminal["kind"] == "crashed"
    assert window.isVisible() and window.graph.node_by_name("conv2d") is not None

    # Inspect takes the next spare and draws the feature maps
    spare = ready_spare(pool, qtbot)
    inspect = window.inspect_panel
    window.inspect_dock.show()
    window.inspect_dock.raise_()
    window.select_node(window.graph.node_by_name("conv2d").id)
    qtbot.waitUntil(lambda: inspect.client.running(), timeout=30000)
    assert inspect.client.pid() == spare
    qtbot.waitUntil(lambda: inspect.model is not None and not inspect.pending,
                    timeout=READY_MS)

    # Data Preview takes the one after, and the data arrive
    spare = ready_spare(pool, qtbot)
    dialog = panel.form.open_data_dialog(modal=False)
    assert dialog.preview()
    assert dialog.client.pid() == spare
    qtbot.waitUntil(lambda: bool(dialog.preview_event or dialog.preview_error),
                    timeout=READY_MS)
    assert dialog.preview_event is not None, dialog.preview_error
    dialog.reject()
    assert pool.taken == 3


def test_a_job_that_chooses_its_devices_never_takes_a_warm_engine():
    """TensorFlow takes ``cpu:2`` only before it starts; a warm engine has started it."""
    from netbuilder.ui.workers import sets_devices

    assert not sets_devices(None)
    assert not sets_devices({"settings": {"epochs": 2}})
    assert not sets_devices({"settings": {"devices": "auto"}})
    assert sets_devices({"settings": {"devices": "cpu:2"}})
    in_project = {"settings": {"training": {"devices": "gpu:0"}}}
    assert sets_devices({"settings": {}, "project": in_project})


# -- the prepared job (F5 ready before it is pressed) ----------------------------------------------


def prepared_spare(pool: EnginePool, qtbot) -> int:
    """A ready spare that has prepared the training job F5 would start: its pid."""
    pid = ready_spare(pool, qtbot)
    qtbot.waitUntil(lambda: pool.job_state in ("prepared", "unprepared"), timeout=READY_MS)
    assert pool.job_state == "prepared", pool.last_error
    return pid


def prepared_flags(panel) -> list[bool]:
    return [e["prepared"] for e in panel.events
            if e.get("event") == "status" and "prepared" in e]


@pytest.mark.slow
def test_a_prepared_engine_serves_f5_and_a_changed_graph_is_built_afresh(
        warm, make_window, qtbot):
    pytest.importorskip("keras")
    window = make_window()
    pool, panel = window.engines, window.training_panel
    panel.form.data_combo.set_source("digits")
    panel.form.epochs_spin.setValue(1)

    # the spare prepares what F5 starts; F5 uses it and trains to the end
    spare = prepared_spare(pool, qtbot)
    window.scene.select_node(window.graph.node_by_name("conv2d").id)   # not an edit
    assert window.train()
    assert panel.client.pid() == spare
    qtbot.waitUntil(lambda: panel.terminal is not None, timeout=READY_MS)
    assert panel.terminal["event"] == "finished", panel.terminal
    assert prepared_flags(panel) == [True]
    assert len(panel.history["loss"]) == 1
    prepared_params = next(e for e in panel.events if e.get("event") == "model")["params"]

    # the graph changes after the spare prepared it: F5 builds the new graph afresh
    spare = prepared_spare(pool, qtbot)
    conv = window.graph.node_by_name("conv2d")
    filters = conv.params["filters"]
    window.document.set_param(conv.id, "filters", filters // 2)
    assert window.train()                      # at once: before the spare hears of it
    assert panel.client.pid() == spare
    qtbot.waitUntil(lambda: panel.terminal is not None, timeout=READY_MS)
    assert panel.terminal["event"] == "finished", panel.terminal
    assert prepared_flags(panel) == [False]
    params = next(e for e in panel.events if e.get("event") == "model")["params"]
    assert params != prepared_params
    import keras

    model = keras.saving.load_model(panel.terminal["model_path"])
    assert model.get_layer("conv2d").filters == filters // 2
    assert len(panel.history["loss"]) == 1
