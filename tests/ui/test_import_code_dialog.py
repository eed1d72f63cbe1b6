"""File ▸ Import from Python Code…: the dialog refuses a syntax error at once, runs pasted code in
the code-import worker, lists the models when there are several, and opens the one taken."""

from __future__ import annotations

import pytest

from netbuilder.core.summary import summarize
from netbuilder.ui.dialogs.import_code import DEFAULT_CHOICE, ImportCodeDialog

TWO_MODELS = """\
import keras
from keras import layers
encoder = keras.Sequential([keras.Input((8,)), layers.Dense(4)], name="encoder")
head = keras.Sequential([keras.Input((4,)), layers.Dense(2)], name="head")
"""


def test_a_syntax_error_is_shown_without_starting_anything(qtbot):
    dialog = ImportCodeDialog()
    qtbot.addWidget(dialog)
    dialog.code_edit.setPlainText("model = Sequential([\n    Dense(2)\n    Dense(3),\n])\n")
    dialog.start()
    assert dialog.client is None
    assert dialog.error.text().startswith("<pasted code>, line 2, column 5: syntax error: "
                                          "invalid syntax. Perhaps you forgot a comma?")
    assert "Importing code runs it, in a separate process, without network." in \
        dialog.findChildren(type(dialog.status))[0].text()


@pytest.mark.slow
def test_several_models_are_listed_and_another_one_can_be_taken(qtbot):
    dialog = ImportCodeDialog()
    qtbot.addWidget(dialog)
    dialog.code_edit.setPlainText(TWO_MODELS)
    assert dialog.model_combo.currentText() == DEFAULT_CHOICE
    dialog.start()
    qtbot.waitUntil(lambda: dialog.client is None, timeout=60_000)
    assert dialog.result is not None and dialog.result.chosen == "head"   # the last one made
    assert [dialog.model_combo.itemData(i) for i in range(dialog.model_combo.count())] == [
        "encoder", "head"]
    dialog.model_combo.setCurrentIndex(0)
    with qtbot.waitSignal(dialog.accepted, timeout=60_000):
        dialog.start()                 # runs it again for encoder; one model: accepted
        qtbot.waitUntil(lambda: dialog.client is None, timeout=60_000)
        dialog.start()
    qtbot.waitUntil(lambda: not dialog.workers_running(), timeout=30_000)
    assert dialog.result.chosen == "encoder"
    assert summarize(dialog.result.project.graph).total_params == 36
