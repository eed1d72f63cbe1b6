"""Data against the model's outputs: the cats-vs-dogs CNN (one sigmoid unit) on the 10-class
digits must not silently become a regression; each problem names the output node and repairs."""

from pathlib import Path

from helpers import chain

from netbuilder.core.data_fit import DataDescription, apply_fix, check
from netbuilder.core.project import load

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
TEN = DataDescription(10)


def head(units, activation, shape=(64,)):
    return chain(("Input", {"shape": list(shape)}),
                 ("Dense", {"units": units, "activation": activation}))


def test_one_sigmoid_unit_on_ten_classes_is_refused_with_a_fix():
    graph = load(EXAMPLES / "cats_vs_dogs_cnn.nbproj").graph
    (problem,) = check(graph, DataDescription.for_source("digits"))
    out = graph.outputs()[0]
    assert problem.node_id == out.id and problem.message.startswith(out.name)
    assert "regression (mean squared error)" in problem.text()
    assert "set units to 10 and activation to softmax" in problem.text()
    apply_fix(graph, problem.fixes[0])
    assert check(graph, TEN) == []
    assert out.params["units"] == 10 and out.params["activation"] == "softmax"


def test_each_mismatch_and_what_fits():
    g, (_, d) = head(1, "sigmoid")
    assert check(g, DataDescription(2)) == []
    g, (_, d) = head(1, "softmax")
    assert "always 1" in check(g, DataDescription(2))[0].message
    g, (_, d) = head(5, "softmax")
    (p,) = check(g, TEN)
    assert "5 units but the data has 10 classes" in p.message and p.fixes[0].values == {
        "units": 10}
    g, (_, d) = head(10, "sigmoid")
    assert check(g, TEN)[0].fixes[0].values == {"activation": "softmax"}
    g, (_, d) = head(10, "linear")  # logits: the trainer uses from_logits
    assert check(g, TEN) == []
    g, (_, d) = head(1, "linear")
    assert check(g, DataDescription(10, "numbers")) == []  # a regression is fine on numbers
    assert check(g, DataDescription(None))  # class numbers of unknown count, one unit


def test_output_that_is_not_one_vector_per_sample():
    g, _ = chain(("Input", {"shape": [8, 8, 3]}),
                 ("Conv2D", {"filters": 10, "kernel_size": 1, "activation": "softmax"}))
    (p,) = check(g, TEN)
    assert "not one vector per sample" in p.message and not p.fixes


def test_the_examples_fit_their_data():
    for name in ("mnist_cnn", "fashion_mnist_cnn", "mlp", "lenet5"):
        assert check(load(EXAMPLES / f"{name}.nbproj").graph, TEN) == [], name
    assert DataDescription.for_source("shapes") is None


def test_check_settings_reads_the_projects_data_and_chosen_loss():
    from netbuilder.core.data_fit import check_settings

    graph = load(EXAMPLES / "cats_vs_dogs_cnn.nbproj").graph
    assert check_settings(graph, {"data": "digits"})
    assert check_settings(graph, {"data": {"source": "cifar10", "options": {}}})
    assert check_settings(graph, {"data": "digits", "training": {"loss": "mse"}}) == []
    out = graph.outputs()[0].name
    assert check_settings(graph, {"data": "digits", "training": {
        "output_losses": {out: {"loss": "mse"}}}}) == []
    assert check_settings(graph, {"data": "/some/folder"}) == []         # not known yet
    assert check_settings(graph, {"data": "/some/folder"}, classes=3)    # a preview counted
    assert check_settings(graph, {"data": "shapes"}) == []               # follows the model
    assert check_settings(graph, {"data": {"source": "shapes", "options": {"num_classes": 4}}})
    assert check_settings(graph, {}) == []


def test_an_input_the_data_cannot_be_adapted_to():
    from netbuilder.core.data_fit import adaptable, check_settings

    assert adaptable((32, 32, 3), (28, 28, 1))      # converted to grayscale and resized
    assert adaptable((28, 28), (224, 224, 3))       # grayscale to RGB, resized
    assert adaptable((8, 8), (64,))                 # flattened
    assert adaptable((8, 8), (100,))                # resized to 10×10, flattened
    assert not adaptable((8, 8), (90,))
    assert not adaptable((8, 8), (8, 8, 2))
    digits = DataDescription.for_source("digits")
    g, (inp, _) = head(10, "softmax", shape=(8, 8, 2))
    (p,) = check(g, digits)
    assert p.node_id == inp.id and "cannot adapt" in p.message and "8×8×1" in p.message
    apply_fix(g, p.fixes[0])
    assert check(g, digits) == []
    g, (inp, _) = head(10, "softmax", shape=(90,))
    (p,) = check_settings(g, {"data": "digits", "training": {"loss": "mse"}})  # still refused
    assert p.fixes[0].values == {"shape": [64]}
    g, _ = head(10, "softmax", shape=(64,))
    assert check(g, digits) == []
    for name in ("mnist_cnn", "fashion_mnist_cnn", "mlp", "lenet5"):
        assert check(load(EXAMPLES / f"{name}.nbproj").graph, digits) == [], name
