"""Exported training code feeds a model the values NetBuilder's worker feeds it: 0-1 for most
models, 0-255 pixels for a model that rescales them itself (a Rescaling layer after its Input,
as in the course notes' cats-vs-dogs CNN). The worker's prepared data is the oracle."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from training_helpers import chain_project

from netbuilder.core.codegen import generate_code
from netbuilder.runtime import data as data_mod
from netbuilder.runtime.keras_build import build_model
from netbuilder.runtime.training.code import rescales_itself, with_training


def _project(rescaling: bool):
    layers = [("Input", {"shape": [16, 16, 3]})]
    if rescaling:
        layers.append(("Rescaling", {"scale": 1 / 255}))
    layers += [("Conv2D", {"filters": 4, "kernel_size": 3}), ("GlobalAveragePooling2D", {}),
               ("Dense", {"units": 2, "activation": "softmax"})]
    return chain_project(*layers, name="small")


def _exported_inputs(tmp_path, project, data, augmentation=None):
    code = with_training(generate_code(project), project.graph, {"epochs": 1}, str(data),
                         augmentation)
    path = tmp_path / f"exported_{len(list(tmp_path.glob('exported_*')))}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    try:
        spec.loader.exec_module(module)          # defines; its main block does not run
        x, _ = module.load_data()
        return code, module.fit_to_model(x, (16, 16, 3))
    finally:
        sys.modules.pop(path.stem, None)


@pytest.mark.parametrize("rescaling", [True, False])
def test_the_exported_code_feeds_what_the_worker_feeds(tmp_path, rescaling):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 16, 16, 3)).astype("uint8")
    y = np.arange(20) % 2
    np.savez(tmp_path / "pixels.npz", x=x, y=y)
    project = _project(rescaling)
    assert rescales_itself(project.graph) == rescaling
    dataset = data_mod.load(str(tmp_path / "pixels.npz"), {"validation_split": 0.0})
    prepared = data_mod.prepare(dataset, build_model(project.graph))
    worker = prepared.train.x
    assert worker is not None and prepared.train.transform is None
    code, ours = _exported_inputs(tmp_path, project, tmp_path / "pixels.npz")
    np.testing.assert_allclose(np.asarray(ours), np.asarray(worker), rtol=1e-6)
    assert float(np.max(ours)) > (200 if rescaling else 0) and float(np.max(ours)) <= (
        255 if rescaling else 1)
    assert ("Pixel values kept at 0-255" in code) == rescaling
    if rescaling:                       # augmentation works on the same 0-255 pixels
        code, _ = _exported_inputs(tmp_path, project, tmp_path / "pixels.npz",
                                   {"brightness": 0.2})
        assert "value_range=(0, 255)" in code


def test_the_search_and_cluster_scripts_load_pixels_the_same_way(tmp_path):
    from netbuilder.core.search_space import dimensions_to_plain, parse_dimension
    from netbuilder.runtime.cluster_job import cluster_job
    from netbuilder.runtime.search_code import search_script

    np.savez(tmp_path / "pixels.npz", x=np.zeros((4, 16, 16, 3), "uint8"), y=np.arange(4) % 2)
    data = str(tmp_path / "pixels.npz")
    for rescaling in (True, False):
        project = _project(rescaling)
        project.search = dimensions_to_plain([parse_dimension("conv2d.filters=2..8")])
        job = cluster_job(generate_code(project), project.graph, {"epochs": 1}, data)
        search = search_script(project, data)
        for code in (job, search):
            assert ("Pixel values kept at 0-255" in code) == rescaling
            assert ("x / 255.0 if x.max() > 1.0 else x" in code) != rescaling
