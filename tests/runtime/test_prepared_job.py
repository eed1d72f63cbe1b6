"""A training job prepared by the warm engine (runtime/training/prepared.py,
runtime/workers/engine.py): the prepared model trains as a cold worker's would — with a seed, the
same weights after an epoch — and a job that differs from the prepared one is built afresh."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from netbuilder.core.project import load, project_to_dict
from netbuilder.runtime.training.prepared import job_key
from netbuilder.runtime.workers.client import ENGINE_WORKER, worker_command, worker_environment
from netbuilder.runtime.workers.protocol import decode_message, encode_message, prepare_message

ROOT = Path(__file__).resolve().parents[2]
LENET = ROOT / "resources" / "examples" / "lenet5.nbproj"


def lenet_job(out: Path, **settings) -> dict:
    return {"project": project_to_dict(load(LENET)), "data": {"source": "digits", "options": {}},
            "settings": {"epochs": 1, "seed": 7, "batch_size": 64, **settings},
            "output_dir": str(out)}


def test_the_key_ignores_where_and_how_often_and_the_layout():
    job = lenet_job(Path("a"))
    moved = json.loads(json.dumps(job))
    moved["output_dir"] = "b"
    moved["batch_interval"] = 0.1
    moved["project"]["graph"]["nodes"][0]["position"] = [999, 999]
    # the editor keeps the job's settings with the project when training starts
    moved["project"].setdefault("settings", {})["training"] = dict(job["settings"])
    moved["project"]["settings"]["data"] = "digits"
    assert job_key(moved) == job_key(job)
    changed = json.loads(json.dumps(job))
    changed["settings"]["learning_rate"] = 0.5
    assert job_key(changed) != job_key(job)
    edited = json.loads(json.dumps(job))
    edited["project"]["graph"]["nodes"][1]["params"] = {"filters": 3}
    assert job_key(edited) != job_key(job)


def run_worker(job: dict, prepare: dict | None = None) -> list[dict]:
    """The job in a fresh engine (after ``prepare`` was prepared, when given): its events."""
    process = subprocess.Popen(worker_command(ENGINE_WORKER), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, env=worker_environment(), cwd=ROOT)
    assert process.stdin is not None and process.stdout is not None
    events: list[dict] = []

    def until(*states: str) -> None:
        for raw in process.stdout:
            message = decode_message(raw)
            if message is None:
                continue
            events.append(message)
            if message.get("event") in ("finished", "error") or message.get("state") in states:
                return

    if prepare is not None:
        process.stdin.write(encode_message(prepare_message(prepare)).encode())
        process.stdin.flush()
        until("prepared", "unprepared")
        assert events[-1]["state"] == "prepared", events[-1]
    process.stdin.write(encode_message(job).encode())
    process.stdin.close()
    until()
    process.stdout.close()
    process.wait(60)
    assert events[-1]["event"] == "finished", events[-1]
    return events


def weights(out: Path) -> list[np.ndarray]:
    import h5py

    with zipfile.ZipFile(out / "model.keras") as archive:
        f = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        found: list[tuple[str, np.ndarray]] = []
        f.visititems(lambda name, o: found.append((name, o[()])) if hasattr(o, "shape")
                     else None)
    return [value for _, value in sorted(found, key=lambda item: item[0])]


def used(events: list[dict]) -> list[bool]:
    return [e["prepared"] for e in events if e.get("event") == "status" and "prepared" in e]


@pytest.mark.slow
def test_a_prepared_job_trains_as_a_cold_one_and_another_job_is_built_afresh(tmp_path):
    pytest.importorskip("keras")
    cold = run_worker(lenet_job(tmp_path / "cold"))
    prepared = run_worker(lenet_job(tmp_path / "prepared"), prepare=lenet_job(tmp_path / "x"))
    other = run_worker(lenet_job(tmp_path / "other"),
                       prepare=lenet_job(tmp_path / "y", learning_rate=0.01))
    assert used(cold) == [] and used(prepared) == [True] and used(other) == [False]
    expected = weights(tmp_path / "cold")             # optimizer state included
    for run in ("prepared", "other"):
        got = weights(tmp_path / run)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    history = [e for e in cold if e["event"] == "finished"][0]["history"]
    assert [e for e in prepared if e["event"] == "finished"][0]["history"] == history
