"""The example projects in resources/examples: they load, `netbuilder summary` accepts them, Keras
builds them with exactly the shapes and parameter counts of our summary, the totals printed in the
course notes hold, and the files are what tools/make_examples.py writes today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netbuilder import cli
from netbuilder.core.project import load
from netbuilder.core.summary import summarize

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "resources" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.nbproj"))
IDS = [p.stem for p in EXAMPLES]

EXPECTED = {
    "mlp", "mnist_cnn", "cats_vs_dogs_cnn", "cats_vs_dogs_dropout", "residual_mlp",
    "inception_cell", "fashion_mnist_cnn", "lenet5", "resnet34", "se_block", "fcn_segmentation",
    "two_headed",
}

# "Total params" as the course notes print them
NOTES_TOTALS = {"mlp": 55_050, "mnist_cnn": 93_322, "cats_vs_dogs_cnn": 3_453_121,
                "cats_vs_dogs_dropout": 3_453_121}


def test_every_example_is_there():
    assert EXPECTED <= set(IDS)


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_loads_with_a_description(path):
    project = load(path)
    assert project.name == path.stem
    description = project.description
    assert description.endswith(".") and description[0].isupper()
    assert description.count(". ") == 0, "one sentence"
    assert project.graph.inputs() and project.graph.outputs()


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_summary_command_has_no_errors(path, capsys):
    assert cli.main(["summary", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Total params:" in out and "!" not in out


@pytest.mark.parametrize("name, total", sorted(NOTES_TOTALS.items()))
def test_totals_from_the_notes(name, total, capsys):
    summary = summarize(load(EXAMPLES_DIR / f"{name}.nbproj").graph)
    assert (summary.total_params, summary.trainable_params, summary.non_trainable_params) == (
        total, total, 0)
    assert cli.main(["summary", str(EXAMPLES_DIR / f"{name}.nbproj")]) == 0
    assert f"Total params: {total}\n" in capsys.readouterr().out


def _weights(variables) -> int:
    total = 0
    for v in variables:
        n = 1
        for d in v.shape:
            n *= int(d)
        total += n
    return total


def _shapes(tensors) -> list[tuple]:
    if not isinstance(tensors, (list, tuple)):
        tensors = [tensors]
    return [tuple(t.shape) for t in tensors]


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_keras_builds_the_same_model(path):
    pytest.importorskip("keras")
    from netbuilder.runtime.keras_build import build_model

    project = load(path)
    summary = summarize(project.graph, project.name)
    assert summary.ok, summary.errors
    model = build_model(project.graph, name=project.name)
    rows = {row.name: row for row in summary.rows}
    assert sorted(layer.name for layer in model.layers) == sorted(rows)
    for layer in model.layers:
        row = rows[layer.name]
        assert _shapes(layer.output) == [tuple(s) for s in row.outputs], layer.name
        assert layer.count_params() == row.params, layer.name
        assert _weights(layer.trainable_weights) == row.trainable_params, layer.name
    assert model.count_params() == summary.total_params
    assert _weights(model.trainable_weights) == summary.trainable_params
    assert _weights(model.non_trainable_weights) == summary.non_trainable_params
    assert [o.name for o in project.graph.outputs()] == model.output_names


def test_two_headed_has_named_outputs():
    graph = load(EXAMPLES_DIR / "two_headed.nbproj").graph
    assert [n.name for n in graph.outputs()] == ["class_output", "box_output"]


def test_generator_output_is_up_to_date(tmp_path):
    """Running tools/make_examples.py gives exactly the committed files; if this fails, run
    `python tools/make_examples.py` and commit resources/examples/."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_examples.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fresh = {p.name: p.read_bytes() for p in tmp_path.glob("*.nbproj")}
    committed = {p.name: p.read_bytes() for p in EXAMPLES}
    assert sorted(fresh) == sorted(committed)
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"out of date: {stale}; run python tools/make_examples.py"
