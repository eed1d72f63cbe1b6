"""`netbuilder diff A B [--json]` on a project and its edited copy, without Qt, TensorFlow or
Keras (a Keras model file is tested in tests/runtime/test_diff_keras.py)."""

import json

import pytest
from test_summary_cli import run_cli

from netbuilder.core import project as proj
from netbuilder.core.project import loads

MNIST = "resources/examples/mnist_cnn.nbproj"


@pytest.fixture
def pair(tmp_path):
    original = proj.load(MNIST)
    edited = loads(proj.dumps(original))
    g = edited.graph
    g.set_param(g.node_by_name("conv2d").id, "filters", 64)
    extra = g.add_node("Dense", {"units": 10}, name="dense_2")
    g.connect(g.node_by_name("dense_1").id, extra.id)
    a, b = tmp_path / "a.nbproj", tmp_path / "b.anything"
    proj.save(original, a)
    proj.save(edited, b)
    return a, b


@pytest.mark.slow
def test_text(pair):
    a, b = pair
    result = run_cli("diff", str(a), str(b))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"--- {a}", f"+++ {b}"]
    assert ("~ conv2d (Conv2D): filters 32 → 64; output (None, 26, 26, 32) → "
            "(None, 26, 26, 64); params 320 → 640") in lines
    assert "+ dense_2 (Dense) (None, 10) 110 params, from dense_1" in lines
    assert "Total params: 93,322 → 112,184 (+18,862)" in lines
    assert "Non-trainable params: 0 (no change)" in lines


@pytest.mark.slow
def test_json_and_identical(pair, tmp_path):
    a, b = pair
    result = run_cli("diff", str(a), str(b), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["identical"] is False
    assert [x["name"] for x in data["added"]] == ["dense_2"]
    assert data["changed"][0]["changes"]["config"] == {"filters": {"old": 32, "new": 64}}
    assert data["totals"]["total_params"] == {"old": 93322, "new": 112184, "delta": 18862}
    # a run of the same project: no difference, still exit 0
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"project": json.loads(a.read_text())}))
    same = run_cli("diff", str(a), str(run), "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["identical"] is True


@pytest.mark.slow
@pytest.mark.parametrize("make, expected", [
    (lambda d: d / "missing.nbproj", "missing.nbproj: no such file"),
    (lambda d: d, "a folder without a run.json"),
    (lambda d: (d / "broken.nbproj").write_text('{"format": "netbuilder-project"')
     and d / "broken.nbproj", "not valid JSON"),
])
def test_bad_input_is_one_line(pair, tmp_path, make, expected):
    a, _ = pair
    bad = make(tmp_path)
    result = run_cli("diff", str(a), str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and expected in result.stderr
    assert result.stderr.startswith("netbuilder: ")
