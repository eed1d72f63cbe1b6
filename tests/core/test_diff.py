"""core/diff.py: a graph and its edited copy (a layer added, one removed, a parameter changed,
a layer renamed, one frozen), and the sources it reads (projects, run folders)."""

import json

import pytest

from netbuilder.core import project as proj
from netbuilder.core.diff import (
    DiffSourceError,
    diff_graphs,
    diff_projects,
    format_text,
    load_source,
    source_kind,
    to_json,
)
from netbuilder.core.project import loads
from netbuilder.core.summary import summarize
from netbuilder.core.summary import to_json as summary_json

MNIST = "resources/examples/mnist_cnn.nbproj"


def copies():
    original = proj.load(MNIST)
    return original, loads(proj.dumps(original))


def test_identical():
    a, b = copies()
    diff = diff_projects(a, b)
    assert diff.identical and not diff.changed and diff.unchanged == 9
    assert "No layer differs." in format_text(diff)
    assert "Total params: 93,322 (no change)" in format_text(diff)


def test_param_change_shapes_counts_and_totals():
    a, b = copies()
    g = b.graph
    g.set_param(g.node_by_name("conv2d").id, "filters", 64)
    diff = diff_projects(a, b)
    by_name = {c.new.name: c for c in diff.changed}
    conv = by_name["conv2d"]
    assert conv.params == {"filters": (32, 64)}
    assert conv.differences["output_shape"] == ([(None, 26, 26, 32)], [(None, 26, 26, 64)])
    assert conv.differences["params"] == (320, 640)
    # downstream: a new shape, a new count, nothing set by hand
    assert not by_name["max_pooling2d"].params
    assert by_name["conv2d_1"].differences["params"] == (18496, 36928)
    text = format_text(diff)
    assert ("~ conv2d (Conv2D): filters 32 → 64; output (None, 26, 26, 32) → "
            "(None, 26, 26, 64); params 320 → 640\n") in text
    new_total = summarize(b.graph).total_params
    assert f"Total params: 93,322 → {new_total:,} (+{new_total - 93322:,})" in text
    assert to_json(diff)["totals"]["total_params"] == {
        "old": 93322, "new": new_total, "delta": new_total - 93322}


def test_added_removed_and_connections():
    a, b = copies()
    g = b.graph
    dense_1 = g.node_by_name("dense_1")
    extra = g.add_node("Dense", {"units": 5}, name="dense_2")
    g.connect(dense_1.id, extra.id)
    pool = g.node_by_name("max_pooling2d_1")      # remove it, conv2d_2 now after conv2d_1
    g.remove_node(pool.id)
    g.connect(g.node_by_name("conv2d_1").id, g.node_by_name("conv2d_2").id)
    diff = diff_projects(a, b)
    assert [layer.name for layer in diff.added] == ["dense_2"]
    assert [layer.name for layer in diff.removed] == ["max_pooling2d_1"]
    conv2 = next(c for c in diff.changed if c.new.name == "conv2d_2")
    assert conv2.differences["inputs"] == (["max_pooling2d_1"], ["conv2d_1"])
    text = format_text(diff)
    assert "+ dense_2 (Dense) (None, 5) 55 params, from dense_1\n" in text
    assert "- max_pooling2d_1 (MaxPooling2D) (None, 5, 5, 64) 0 params, from conv2d_1\n" in text
    data = to_json(diff)
    assert data["added"][0] == {"name": "dense_2", "type": "Dense", "output_shape": [None, 5],
                                "params": 55, "trainable_params": 55, "trainable": True,
                                "inputs": ["dense_1"]}
    assert data["removed"][0]["name"] == "max_pooling2d_1"
    # the counts are the summary's (inference's), layer by layer
    rows = {r["name"]: r for r in summary_json(summarize(b.graph))["layers"]}
    for change in data["changed"]:
        if "params" in change["changes"]:
            assert change["changes"]["params"]["new"] == rows[change["name"]]["params"]


def test_renamed_layer_is_matched_by_type_and_inputs():
    a, b = copies()
    g = b.graph
    g.rename(g.node_by_name("dense").id, "hidden")
    g.set_param(g.node_by_name("hidden").id, "units", 32)
    diff = diff_projects(a, b)
    assert not diff.added and not diff.removed
    hidden = next(c for c in diff.changed if c.new.name == "hidden")
    assert hidden.renamed and hidden.old.name == "dense"
    assert hidden.params == {"units": (64, 32)}
    # dense_1's input was renamed with it: not a connection change
    dense_1 = next(c for c in diff.changed if c.new.name == "dense_1")
    assert "inputs" not in dense_1.differences
    assert "~ hidden (Dense): renamed from dense; units 64 → 32" in format_text(diff)
    assert to_json(diff)["changed"][0]["old_name"] == "dense"
    by_name = diff_graphs(a.graph, b.graph, match_renamed=False)
    assert [x.name for x in by_name.added] == ["hidden"]
    assert [x.name for x in by_name.removed] == ["dense"]


def test_trainable_flag_and_split_totals():
    a, b = copies()
    g = b.graph
    g.set_trainable(g.node_by_name("dense").id, False)
    diff = diff_projects(a, b)
    (change,) = diff.changed
    assert change.differences["trainable"] == (True, False)
    assert change.differences["trainable_params"] == (36928, 0)
    assert "~ dense (Dense): frozen; trainable params 36,928 → 0" in format_text(diff)
    data = to_json(diff)
    assert data["totals"]["trainable_params"]["delta"] == -36928
    assert data["totals"]["non_trainable_params"] == {"old": 0, "new": 36928, "delta": 36928}
    assert data["totals"]["total_params"]["delta"] == 0


def test_type_change_compares_what_each_sets():
    a, b = copies()
    g = b.graph
    flatten = g.node_by_name("flatten")
    dense = g.node_by_name("dense")
    g.remove_node(flatten.id)
    gap = g.add_node("GlobalAveragePooling2D", name="flatten")
    g.connect(g.node_by_name("conv2d_2").id, gap.id)
    g.connect(gap.id, dense.id)
    change = next(c for c in diff_projects(a, b).changed if c.new.name == "flatten")
    assert change.differences["type"] == ("Flatten", "GlobalAveragePooling2D")
    assert change.differences["output_shape"] == ([(None, 576)], [(None, 64)])


def test_json_is_plain_and_stable():
    a, b = copies()
    b.graph.set_param(b.graph.node_by_name("conv2d").id, "kernel_size", (5, 5))
    data = to_json(diff_projects(a, b, "a.nbproj", "b.nbproj"))
    assert list(data) == ["a", "b", "identical", "added", "removed", "changed", "unchanged",
                          "totals", "errors"]
    assert data["a"] == "a.nbproj"
    conv = data["changed"][0]
    assert conv["changes"]["config"] == {"kernel_size": {"old": [3, 3], "new": [5, 5]}}
    assert conv["changes"]["output_shape"] == {"old": [None, 26, 26, 32],
                                               "new": [None, 24, 24, 32]}
    assert json.loads(json.dumps(data)) == data


def test_sources(tmp_path):
    original = proj.load(MNIST)
    project_file = tmp_path / "a.nbproj"
    proj.save(original, project_file)
    run = tmp_path / "a-runs" / "2024-01-01_10-00-00"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"project": proj.project_to_dict(original),
                                              "settings": {}}))
    assert source_kind(project_file) == "project"
    assert source_kind(run) == source_kind(run / "run.json") == "run"
    keras_json = tmp_path / "model.json"
    keras_json.write_text(json.dumps({"class_name": "Functional", "config": {}}))
    assert source_kind(keras_json) == "keras"
    (tmp_path / "m.keras").touch()
    assert source_kind(tmp_path / "m.keras") == "keras"
    assert diff_projects(load_source(project_file), load_source(run)).identical
    with pytest.raises(DiffSourceError, match="no such file"):
        load_source(tmp_path / "missing.nbproj")
    with pytest.raises(DiffSourceError, match="without a run.json"):
        load_source(tmp_path)
    bad_run = tmp_path / "bad"
    bad_run.mkdir()
    (bad_run / "run.json").write_text(json.dumps({"project": {"format": "x"}}))
    with pytest.raises(DiffSourceError, match="its project"):
        load_source(bad_run)
    (bad_run / "run.json").write_text("{")
    with pytest.raises(DiffSourceError, match="not a valid run record"):
        load_source(bad_run / "run.json")


def test_spellings_keras_reads_alike_are_not_differences():
    """An imported model spells out data_format and a pooling's strides; a project leaves them
    None: the same layers."""
    a, b = copies()
    g = b.graph
    g.set_param(g.node_by_name("conv2d").id, "data_format", "channels_last")
    g.set_param(g.node_by_name("max_pooling2d").id, "strides", (2, 2))
    assert diff_projects(a, b).identical
    g.set_param(g.node_by_name("max_pooling2d").id, "strides", (1, 1))
    (change,) = [c for c in diff_projects(a, b).changed if c.new.name == "max_pooling2d"]
    assert change.params == {"strides": (None, [1, 1])}
