"""The inspection worker as a process: JSON lines over its pipes, replies by id, status events,
errors that do not end it, and exit 0 when stdin closes. Every read has a timeout."""

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from netbuilder.runtime.workers.protocol import decode_array, encode_array, request  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
MNIST_CNN = ROOT / "resources" / "examples" / "mnist_cnn.nbproj"


class Worker:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "netbuilder.runtime.workers.inspection"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self.stderr: list[str] = []
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr),
                                         daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def next(self, timeout: float) -> dict:
        line = self.lines.get(timeout=timeout)
        assert line is not None, "the worker closed stdout:\n" + "".join(self.stderr[-20:])
        return json.loads(line)      # every stdout line is one JSON object

    def send_raw(self, text: str) -> None:
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for t in self.threads:
            t.join(timeout=10)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if not pipe.closed:
                pipe.close()

    def ask(self, action: str, rid: int, timeout: float = 60, **fields) -> dict:
        self.send_raw(request(action, rid, **fields))
        while True:
            msg = self.next(timeout)
            if "id" in msg:
                assert msg["id"] == rid, msg
                return msg
            self.events.append(msg)


def test_worker_process_answers_requests_over_pipes():
    worker = Worker()
    try:
        ready = worker.next(60)
        assert ready == {"event": "ready", "pid": worker.proc.pid}
        assert worker.ask("ping", 1) == {"id": 1, "ok": True, "result": {"pong": True}}

        project = json.loads(MNIST_CNN.read_text())
        loaded = worker.ask("load", 2, timeout=120, project=project, weights=None)
        assert loaded["ok"], loaded
        info = loaded["result"]
        assert info["inputs"] == [[None, 28, 28, 1]] and info["weights"] == "untrained"
        convs = [r["name"] for r in info["layers"] if r["conv"]]
        assert convs == ["conv2d", "conv2d_1", "conv2d_2"]
        assert any(e.get("event") == "status" for e in worker.events)

        image = np.random.default_rng(0).integers(0, 256, (28, 28, 1), dtype=np.uint8)
        reply = worker.ask("activations", 3, layers=convs,
                           input={"kind": "array", "array": encode_array(image)})
        assert reply["ok"], reply
        result = reply["result"]
        assert {n: result["layers"][n]["shape"] for n in convs} == {
            "conv2d": [26, 26, 32], "conv2d_1": [11, 11, 64], "conv2d_2": [3, 3, 64]}
        assert all(result["layers"][n]["kind"] == "maps" for n in convs)
        maps = decode_array(result["layers"]["conv2d"]["array"])
        assert maps.dtype == np.float32 and maps.shape == (26, 26, 32) and maps.min() >= 0
        np.testing.assert_array_equal(decode_array(result["input_image"]), image)
        assert any("scaled from 0–255" in n for n in result["notes"])

        # bad requests get error replies and the worker carries on
        worker.send_raw("this is not json\n")
        bad = worker.next(30)
        assert bad["ok"] is False and bad["error"]["kind"] == "request"
        missing = worker.ask("gradcam", 4, input={"kind": "file", "path": "/no/such.png"})
        assert missing["error"] == {"kind": "input", "message": "no such image file: /no/such.png"}
        unknown = worker.ask("filters", 5, layer="dense_9")
        assert unknown["error"]["kind"] == "layer"
        kernels = worker.ask("filters", 6, layer="conv2d")["result"]
        assert kernels["shape"] == [3, 3, 1, 32] and kernels["rgb"] is False
        assert decode_array(kernels["array"]).shape == (3, 3, 1, 32)
        assert worker.ask("ping", 7)["ok"]

        worker.proc.stdin.close()                       # EOF: the worker ends by itself
        assert worker.proc.wait(timeout=30) == 0
    finally:
        worker.close()


def test_the_protocol_module_imports_without_keras_or_tensorflow():
    """The editor imports ``workers.protocol``: it must not pull in Keras or TensorFlow."""
    code = ("import sys\n"
            "for name in ('keras', 'tensorflow', 'PySide6'):\n"
            "    sys.modules[name] = None\n"
            "from netbuilder.runtime.workers import protocol as p\n"
            "import numpy as np\n"
            "a = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
            "assert (p.decode_array(p.encode_array(a)) == a).all()\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
