"""`netbuilder summary` as the command-line contract says, without Qt, TensorFlow or Keras."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import chain, mlp

from netbuilder.core import project as proj
from netbuilder.core.summary import format_text, summarize, to_json

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI (or any code) in a fresh interpreter where Qt, TensorFlow and Keras cannot load.
BLOCKER = textwrap.dedent("""
    import sys
    BLOCKED = ("tensorflow", "keras", "PySide6", "shiboken6", "pyqtgraph", "torch", "jax")
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
    sys.meta_path.insert(0, Blocker())
""")


def run_blocked(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCKER + code, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_blocked("import sys\nfrom netbuilder.cli import main\nsys.exit(main(sys.argv[1:]))",
                       *args)


@pytest.fixture
def mlp_file(tmp_path):
    path = tmp_path / "mlp.whatever"  # any extension: paths are used as given
    proj.save(proj.Project(mlp()[0], name="mlp"), path)
    return path


def test_summary_text(mlp_file):
    result = run_cli("summary", str(mlp_file))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == 'Model: "mlp"'
    assert any(line.split() == ["dense", "(Dense)", "(None,", "64)", "50,240",
                                "input_layer[0][0]"]  # as Keras names a tensor: [call][output]
               for line in lines)
    assert "Total params: 55050" in lines
    assert "Trainable params: 55050" in lines
    assert "Non-trainable params: 0" in lines
    assert result.stderr == ""


def test_summary_json(mlp_file):
    result = run_cli("summary", str(mlp_file), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == ["layers", "total_params", "trainable_params", "non_trainable_params",
                          "errors"]
    assert data["layers"][0] == {"name": "input_layer", "type": "InputLayer",
                                 "output_shape": [None, 784], "params": 0,
                                 "trainable_params": 0}
    assert data["layers"][1]["output_shape"] == [None, 64]
    assert (data["total_params"], data["trainable_params"], data["non_trainable_params"]) == (
        55050, 55050, 0)
    assert data["errors"] == []


def test_invalid_graph_exits_1_with_errors_on_stderr(tmp_path):
    g, _ = chain(("Input", {"shape": [8]}), ("Reshape", {"target_shape": [3, 3]}),
                 ("Dense", {"units": 2}))
    path = tmp_path / "bad.nbproj"
    proj.save(proj.Project(g), path)
    result = run_cli("summary", str(path), "--json")
    assert result.returncode == 1
    assert "reshape: Reshape: target (3, 3) holds 9 values" in result.stderr
    data = json.loads(result.stdout)
    assert data["errors"] and data["layers"][2]["output_shape"] is None
    text = run_cli("summary", str(path))
    assert text.returncode == 1 and "error: reshape" in text.stderr


def test_damaged_file_is_one_clear_line(tmp_path):
    path = tmp_path / "cut.nbproj"
    path.write_text('{"format": "netbuilder-project", "version": 1, "gra')
    result = run_cli("summary", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"netbuilder: {path}: not valid JSON")
    assert "Traceback" not in result.stderr
    missing = run_cli("summary", str(tmp_path / "nope.nbproj"))
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_multi_output_layer_lists_its_shapes():
    from netbuilder.core.summary import Summary, SummaryRow

    s = Summary("m", rows=[SummaryRow("lstm", "LSTM", [(None, 4), (None, 4)], 0, 0, [], 0, 0)])
    assert to_json(s)["layers"][0]["output_shape"] == [[None, 4], [None, 4]]


def test_text_table_columns_line_up():
    g, _ = mlp()
    text = format_text(summarize(g, "mlp"))
    rows = [line for line in text.splitlines() if "(Dense)" in line]
    assert len({line.index("(None") for line in rows}) == 1


def test_core_imports_without_qt_or_keras():
    code = textwrap.dedent("""
        import importlib, pkgutil, netbuilder.core
        for m in pkgutil.walk_packages(netbuilder.core.__path__, "netbuilder.core."):
            importlib.import_module(m.name)
        from netbuilder.core import catalog
        assert len(catalog.all_specs()) >= 9
        print("ok")
    """)
    result = run_blocked(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_core_source_names_no_gui_or_keras_module():
    """A second line of defence: no import statement of those packages in core's source."""
    import re

    pattern = re.compile(r"^\s*(from|import)\s+(PySide6|pyqtgraph|tensorflow|keras)\b", re.M)
    offenders = [str(p) for p in (ROOT / "netbuilder" / "core").rglob("*.py")
                 if pattern.search(p.read_text())]
    assert offenders == []
