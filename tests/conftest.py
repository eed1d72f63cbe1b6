import inspect
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("NETBUILDER_WARM_ENGINE", "0")   # no warm engine unless a test asks

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default", deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.register_profile(
    "thorough", deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
settings.load_profile(os.environ.get("NETBUILDER_HYPOTHESIS", "default"))


# Markers (registered in pyproject.toml): `pytest -m "not slow"` is the quick loop.
# keras: the test folders of the Keras side, and tests that skip without Keras.
KERAS_FOLDERS = ("runtime", "catalog_oracle")
# slow: over about 1.5 s in a full run, or a worker process or a Keras Application; a test id
# without its parameters stands for all of them.
SLOW_FOLDERS = ("catalog_oracle",)
SLOW_FILES = (
    "tests/runtime/test_app_preprocessing.py",
    "tests/runtime/test_application_expand.py",
    "tests/runtime/test_applications.py",
)
SLOW_TESTS = frozenset(f"tests/{test}" for test in (
    "runtime/test_export.py::test_application_round_trip",
    "runtime/test_export.py::test_generated_graphs",
    "runtime/test_export.py::test_the_file_runs_on_its_own_and_prints_the_summary",
    "runtime/test_fine_tune.py::test_cli_prints_the_stage_line",
    "runtime/test_fine_tune.py::test_exported_code_fine_tunes_too",
    "runtime/test_fine_tune.py::test_two_stages_train_the_head_then_the_top_of_the_base",
    "runtime/test_inspect_worker.py::test_worker_process_answers_requests_over_pipes",
    "runtime/test_keras_import.py::test_a_keras_application_inside_a_model_keeps_its_weights",
    "runtime/test_keras_import.py::test_application_summary_equals_keras",
    "runtime/test_keras_import.py::test_application_weights_from_a_file",
    "runtime/test_keras_import.py::test_cli_import_end_to_end",
    "runtime/test_keras_import.py::test_cli_import_errors_are_one_line",
    "runtime/test_keras_import.py::test_cli_import_refuses_lambda",
    "runtime/test_keras_import.py::test_rebuilt_application_has_the_same_layers",
    "runtime/test_training.py::test_a_killed_worker_is_reported_and_its_checkpoint_survives",
    "runtime/test_training.py::test_an_example_project_on_generated_shapes",
    "runtime/test_training.py::test_batch_events_are_throttled_and_the_interval_can_be_chosen",
    "runtime/test_training.py::test_callbacks_checkpoint_early_stopping_and_logs",
    "runtime/test_training.py::test_cli_train_end_to_end",
    "runtime/test_training.py::test_cli_train_error_from_the_worker",
    "runtime/test_training.py::test_latest_weights_are_written_after_every_epoch",
    "runtime/test_training.py::test_worker_digits_cnn_learns_stops_and_continues",
    "runtime/test_training_code.py::test_exported_script_trains_on_digits",
    "ui/test_application_ui.py::test_the_dialog_offers_every_constructor_and_checks_the_input",
    "ui/test_data_dialog.py::test_a_real_preview_error_is_shown_in_the_dialog",
    "ui/test_data_dialog.py::test_a_real_preview_of_the_digits_with_augmentation",
    "ui/test_data_dialog.py::test_data_is_previewed_as_loaded_while_the_model_cannot_be_built",
    "ui/test_inspect_panel.py::test_a_reply_for_an_older_selection_is_dropped",
    "ui/test_inspect_panel.py::test_the_real_worker_draws_the_maps_and_predictions_of_a_small_cnn",
    "ui/test_training_panel.py::test_a_real_short_run_through_the_worker",
))


def _needs_keras(item: pytest.Item) -> bool:
    module = getattr(item, "module", None)
    function = getattr(item, "function", None)
    return ("keras" in vars(module) if module is not None else False) or (
        function is not None and 'importorskip("keras")' in inspect.getsource(function))


def pytest_collection_modifyitems(items):
    for item in items:
        path, _, _ = item.nodeid.partition("::")
        folder = Path(path).parts[1] if len(Path(path).parts) > 2 else ""
        if folder in KERAS_FOLDERS or _needs_keras(item):
            item.add_marker(pytest.mark.keras)
        if folder == "ui" or "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)
        if (folder in SLOW_FOLDERS or path in SLOW_FILES
                or item.nodeid.partition("[")[0] in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_CALL_FAILED] = True
    return report


def _top_level_widgets() -> set:
    """The application's windows, or none when this test process has no QApplication."""
    qt = sys.modules.get("PySide6.QtWidgets")
    app = qt.QApplication.instance() if qt is not None else None
    return set(app.topLevelWidgets()) if app is not None else set()


@pytest.fixture(autouse=True)
def no_leaked_windows(request):
    """Fails a test that leaves a new window open: a top-level widget that was not there before
    the test and is still shown after qtbot closed the widgets it was given. The windows are
    closed and deleted after the report, so that one leak does not fail the tests after it."""
    before = _top_level_widgets()
    yield
    if not _top_level_widgets() - before:
        return
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    leaked = [w for w in _top_level_widgets() - before if w.isVisible()]
    for widget in leaked:
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if leaked and not request.node.stash.get(_CALL_FAILED, False):
        names = ", ".join(sorted(type(w).__name__ for w in leaked))
        pytest.fail(f"the test left {len(leaked)} window(s) open: {names} "
                    "(give each to qtbot.addWidget, or close it)", pytrace=False)
