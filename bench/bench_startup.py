"""Time from process start to the first window shown and interactive: NetBuilder (``main.py``
with the MNIST example, as a user starts it) against a bare PySide6 + pyqtgraph window (a
QMainWindow holding a PlotWidget), both as fresh subprocesses (DESIGN.md: target <= 1.3x).

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_startup.py [--runs N] [--importtime]

How it is measured: the parent notes the time, starts the child, and the child prints the elapsed
time from that moment when its event loop runs a zero-delay timer queued when ``app.exec()``
starts, i.e. after ``show()`` and the events it posted: the window is up and takes input. The
same hook (a wrapper around ``QApplication.exec``) is used for both programs; neither is changed.
Each child also reports whether TensorFlow or Keras was imported on the way (it must not be).
Runs alternate between the two programs; the medians and their ratio are printed.

``--importtime`` runs NetBuilder once more under ``python -X importtime`` and lists the slowest
imports (cumulative), to see what the startup path pays for.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOOK = textwrap.dedent("""
    import os, sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    _T0 = float(os.environ["BENCH_T0"])
    _exec = QApplication.exec

    def _ready():
        elapsed = time.time() - _T0
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        heavy = sorted({m.split(".")[0] for m in sys.modules
                        if m.split(".")[0] in ("tensorflow", "keras", "tf_keras")})
        print(f"READY {elapsed:.6f} windows={len(shown)} heavy={','.join(heavy) or '-'}",
              flush=True)
        for w in shown:
            if hasattr(w, "ask_unsaved_changes"):
                w.ask_unsaved_changes = lambda: __import__("PySide6.QtWidgets").QtWidgets \\
                    .QMessageBox.StandardButton.Discard
        QApplication.instance().quit()

    def _timed_exec(*args, **kwargs):
        QTimer.singleShot(0, _ready)
        return _exec()  # a static method in Qt: the instance is not passed on

    QApplication.exec = _timed_exec
""")

NETBUILDER = HOOK + textwrap.dedent(f"""
    import runpy
    sys.argv = [{str(ROOT / "main.py")!r}]
    sys.path.insert(0, {str(ROOT)!r})
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
""")

BARE = HOOK + textwrap.dedent("""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QMainWindow

    app = QApplication(sys.argv[:1])
    window = QMainWindow()
    window.setWindowTitle("bare")
    plot = pg.PlotWidget()
    plot.plot([0, 1, 2, 3], [0, 1, 4, 9])
    window.setCentralWidget(plot)
    window.resize(1400, 850)
    window.show()
    app.exec()
""")


def _env(home: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    # a private settings and data folder: no recovery file or recent list of the user's
    env["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    env["XDG_DATA_HOME"] = os.path.join(home, "data")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_once(code: str, env: dict[str, str]) -> tuple[float, str]:
    env = {**env, "BENCH_T0": repr(time.time())}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("READY ")), None)
    if line is None:
        raise RuntimeError(f"the child never became ready (exit {result.returncode}):\n"
                           f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    parts = line.split()
    return float(parts[1]), " ".join(parts[2:])


def import_profile(env: dict[str, str], top: int = 25) -> str:
    env = {**env, "BENCH_T0": repr(time.time())}
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", NETBUILDER],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative, name = (p.strip() for p in line[len("import time:"):].split("|"))
        rows.append((int(cumulative), int(self_us), name))
    rows.sort(reverse=True)
    out = [f"{'cumulative ms':>14} {'self ms':>8}  module"]
    for cumulative, self_us, name in rows[:top]:
        out.append(f"{cumulative / 1000:14.1f} {self_us / 1000:8.1f}  {name}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each program (default 7)")
    parser.add_argument("--importtime", action="store_true",
                        help="also list NetBuilder's slowest imports")
    args = parser.parse_args(argv)
    home = tempfile.mkdtemp(prefix="netbuilder-bench-")
    env = _env(home)

    run_once(BARE, env)  # warm the file cache for both, untimed
    run_once(NETBUILDER, env)
    times: dict[str, list[float]] = {"bare": [], "netbuilder": []}
    notes: dict[str, str] = {}
    for i in range(args.runs):
        order = (("bare", BARE), ("netbuilder", NETBUILDER))
        for name, code in order if i % 2 == 0 else reversed(order):
            seconds, note = run_once(code, env)
            times[name].append(seconds)
            notes[name] = note
    bare = statistics.median(times["bare"])
    ours = statistics.median(times["netbuilder"])
    print(f"Python {sys.version.split()[0]}, QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}, "
          f"{args.runs} runs each, median (min-max)")
    for name, label in (("bare", "bare PySide6 + pyqtgraph window"),
                        ("netbuilder", "NetBuilder, MNIST example     ")):
        values = times[name]
        print(f"  {label}  {statistics.median(values) * 1000:7.0f} ms "
              f"({min(values) * 1000:.0f}-{max(values) * 1000:.0f})  [{notes[name]}]")
    ratio = ours / bare
    verdict = "within" if ratio <= 1.3 else "OVER"
    print(f"  ratio NetBuilder / bare = {ratio:.2f}x  ({verdict} the 1.3x budget)")
    if "heavy=-" not in notes["netbuilder"]:
        print("  WARNING: TensorFlow/Keras was imported before the window was ready")
    if args.importtime:
        print()
        print("Slowest imports on NetBuilder's startup path:")
        print(import_profile(env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
