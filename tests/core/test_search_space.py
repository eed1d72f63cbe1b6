"""Search marks: parsing, checking against the catalog, saving, and applying one trial."""

import json

import pytest
from helpers import chain, mlp

from netbuilder.core import project as proj
from netbuilder.core.project import Project, ProjectError
from netbuilder.core.search_space import (
    Dimension,
    SearchError,
    TrainingRules,
    apply_values,
    check_space,
    dimensions_from_plain,
    dimensions_to_plain,
    graph_problem,
    grid,
    merge,
    parse_dimension,
)

RULES = TrainingRules(
    {"learning_rate": "float", "batch_size": "int", "optimizer": "str"},
    lambda name, value: (f"{name} must be above 0, found {value!r}"
                         if name == "learning_rate" and value <= 0 else
                         f"optimizer must be one of adam, sgd, found {value!r}"
                         if name == "optimizer" and value not in ("adam", "sgd") else None))


def cnn():
    return chain(("Input", {"shape": [8, 8, 1]}), ("Conv2D", {"filters": 8, "kernel_size": 3}),
                 ("Dropout", {"rate": 0.2}), ("Flatten", {}), ("Dense", {"units": 10}))


@pytest.mark.parametrize("text, dim", [
    ("dense.units=16..128", Dimension("dense.units", "int", 16, 128)),
    ("training.learning_rate=1e-4..1e-2:log",
     Dimension("training.learning_rate", "float", 1e-4, 1e-2, log=True)),
    ("dense.units=16..128:step=16", Dimension("dense.units", "int", 16, 128, step=16)),
    ("training.optimizer=adam,sgd",
     Dimension("training.optimizer", "categorical", choices=("adam", "sgd"))),
    ("dense.units=32,64", Dimension("dense.units", "categorical", choices=(32, 64))),
    ("dropout.rate=0.1..0.5", Dimension("dropout.rate", "float", 0.1, 0.5)),
])
def test_parse(text, dim):
    assert parse_dimension(text) == dim
    assert parse_dimension(dim.text()) == dim


@pytest.mark.parametrize("text, words", [
    ("dense.units", "PATH=LOW..HIGH"),
    ("units=1..3", "not a path"),
    ("dense.units=a..b", "not a number"),
    ("dense.units=128..16", "empty"),
    ("training.learning_rate=0..1:log", "log scale"),
    ("dense.units=1,,2", "empty choice"),
    ("dense.units=1..2:sideways", "PATH=LOW..HIGH"),
    ("dense.units=1,1", "twice"),
])
def test_malformed(text, words):
    with pytest.raises(SearchError, match=words):
        parse_dimension(text)


def test_check_types_ranges_as_the_parameter():
    g, _ = cnn()
    dims = check_space([parse_dimension("dropout.rate=0..0.5"),
                        parse_dimension("conv2d.filters=4..16:step=4"),
                        parse_dimension("conv2d.kernel_size=1..3"),
                        parse_dimension("training.learning_rate=1..2")], g, RULES)
    assert [(d.kind, d.low, d.high) for d in dims] == [
        ("float", 0.0, 0.5), ("int", 4, 16), ("int", 1, 3), ("float", 1.0, 2.0)]
    assert isinstance(dims[0].low, float) and isinstance(dims[3].high, float)


@pytest.mark.parametrize("text, words", [
    ("dense.units=0..64", "`units`: 0 is not an integer >= 1"),
    ("dropout.rate=0.1..1", "drops every unit"),
    ("dropout.rate=0.1..1.5", "<= 1"),
    ("desne.units=8..16", "no layer named 'desne' \\(did you mean 'dense'"),
    ("dense.unit=8..16", "has no parameter 'unit' \\(did you mean 'units'"),
    ("dense.units=8.5..16", "whole numbers"),
    ("dense.activation=1..2", "not a range"),
    ("dense.activation=relu,sparkle", "sparkle"),
    ("training.learning_rate=0..0.1", "learning_rate must be above 0"),
    ("training.optimiser=adam", "did you mean 'optimizer'"),
    ("training.optimizer=adam,lion", "one of adam, sgd"),
])
def test_check_refuses_what_the_parameter_refuses(text, words):
    g, _ = cnn()
    with pytest.raises(SearchError, match=words):
        check_space([parse_dimension(text)], g, RULES)


def test_nothing_to_search():
    with pytest.raises(SearchError, match="nothing to search"):
        check_space([], mlp()[0], RULES)


def test_apply_values_on_copies_and_invalid_graph_without_tensorflow():
    g, nodes = cnn()
    settings = {"training": {"epochs": 3}}
    apply_values(g, settings, {"conv2d.filters": 12, "training.learning_rate": 0.01})
    assert nodes[1].params["filters"] == 12
    assert settings == {"training": {"epochs": 3, "learning_rate": 0.01}}
    assert graph_problem(g) is None
    apply_values(g, settings, {"conv2d.kernel_size": 9})      # 9x9 on an 8x8 image
    problem = graph_problem(g)
    assert problem and "conv2d" in problem
    with pytest.raises(SearchError, match="units"):
        apply_values(g, settings, {"dense.units": 0})


def test_grid():
    dims = [Dimension("a.b", "int", 1, 7, step=3), Dimension("c.d", "categorical",
                                                             choices=("x", "y")),
            Dimension("e.f", "float", 0.1, 0.3, step=0.1)]
    assert grid(dims) == {"a.b": [1, 4, 7], "c.d": ["x", "y"], "e.f": [0.1, 0.2, 0.3]}
    with pytest.raises(SearchError, match="needs a step"):
        grid([Dimension("e.f", "float", 0.1, 0.3)])


def test_merge_replaces_same_path():
    a = [parse_dimension("dense.units=1..2"), parse_dimension("training.batch_size=8,16")]
    b = [parse_dimension("dense.units=4..8")]
    assert [d.text() for d in merge(a, b)] == ["dense.units=4..8", "training.batch_size=8,16"]


def test_saved_in_project_version_4_and_older_files_unchanged(tmp_path):
    g, _ = mlp()
    path = tmp_path / "p.nbproj"
    proj.save(Project(g, name="mlp"), path)
    assert json.loads(path.read_text())["version"] == 1          # no marks: as before
    dims = [parse_dimension("dense.units=16..128:log"),
            parse_dimension("training.optimizer=adam,sgd")]
    proj.save(Project(g, name="mlp", search=dimensions_to_plain(dims)), path)
    data = json.loads(path.read_text())
    assert data["version"] == 4
    assert data["search"] == {"dense.units": {"type": "int", "low": 16, "high": 128,
                                              "log": True},
                              "training.optimizer": {"type": "categorical",
                                                     "choices": ["adam", "sgd"]}}
    loaded = proj.load(path)
    assert dimensions_from_plain(loaded.search) == dims
    assert proj.dumps(loaded) == path.read_text()


def test_damaged_search_marks_are_one_clear_error(tmp_path):
    g, _ = mlp()
    data = proj.project_to_dict(Project(g))
    data["version"] = 4
    data["search"] = {"dense.units": {"type": "int", "low": 64, "high": 8}}
    with pytest.raises(ProjectError, match="<project>: \"search\" 'dense.units': the range "
                                           "64..8 is empty"):
        proj.loads(json.dumps(data))
