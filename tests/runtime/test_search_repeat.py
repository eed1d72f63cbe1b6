"""A search over a block instance's ``repeat``: each trial's graph has the depth it drew, and
best.nbproj carries the best trial's repeat (training stood in for, as in test_search.py)."""

import json
from pathlib import Path

from netbuilder.core import blocks_library as bl
from netbuilder.core import project as proj
from netbuilder.core.graph import Graph
from netbuilder.core.project import Project
from netbuilder.core.search_space import parse_dimension
from netbuilder.core.summary import summarize, to_json
from netbuilder.runtime import search as search_mod
from netbuilder.runtime.search import Search, SearchConfig, space_for


def _repeated_mlp() -> Project:
    g = Graph()
    bl.add_to_graph(g, bl.dense_dropout())
    x = g.add_node("Input", {"shape": [64]})
    body = g.add_node("Block", {"block": "dense_dropout", "units": 16}, name="body")
    head = g.add_node("Dense", {"units": 10, "activation": "softmax"})
    g.connect(x.id, body.id)
    g.connect(body.id, head.id)
    return Project(g, name="deep_mlp")


def test_a_search_over_repeat_changes_depth_and_best_carries_it(tmp_path, monkeypatch):
    losses = {1: 0.5, 2: 0.2, 3: 0.4}   # two calls of the block are best
    depths = {}

    def train(job, emit, stop):
        graph = proj.loads(json.dumps(job["project"])).graph
        repeat = graph.node_by_name("body").params.get("repeat", 1)
        depths[repeat] = len(to_json(summarize(graph))["layers"])   # Keras' layers
        Path(job["output_dir"]).mkdir(parents=True, exist_ok=True)
        emit({"event": "epoch", "epoch": 1, "logs": {"val_loss": losses[repeat]}})
        emit({"event": "finished", "reason": "completed",
              "history": {"val_loss": [losses[repeat]]}, "epochs_run": 1})

    monkeypatch.setattr(search_mod, "_train_here", train)
    project = _repeated_mlp()
    dims = space_for(project, [parse_dimension("body.repeat=1..3")])
    config = SearchConfig(data={"source": "digits"}, out_dir=tmp_path / "out", seed=0,
                          trials=None, epochs=1, sampler="grid")
    outcomes = list(Search(project, dims, config).run())
    assert [o.state for o in outcomes] == ["complete"] * 3, [o.reason for o in outcomes]
    assert sorted(o.params["body.repeat"] for o in outcomes) == [1, 2, 3]
    assert depths[2] == depths[1] + 2 and depths[3] == depths[1] + 4   # Dense + Dropout a call
    best = proj.load(tmp_path / "out" / "best.nbproj")
    assert best.graph.node_by_name("body").params["repeat"] == 2
