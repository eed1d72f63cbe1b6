"""The README's screenshots, taken from the real editor on a virtual screen.

    .venv/bin/python tools/screenshots.py                 # all of them, into docs/
    .venv/bin/python tools/screenshots.py training code   # some (names below), into docs/
    .venv/bin/python tools/screenshots.py --out /tmp/shots --list

Needs Xvfb (apt-get install xvfb). Each screen size gets its own Xvfb and one editor process on
Qt's xcb platform, with fresh settings (a temporary XDG_CONFIG_HOME), so the window opens as it
would on a laptop of that size. The editor is driven through its Python objects (the same calls
the tests make); training and Inspect run their real worker processes on the built-in digits, so
the whole set takes a few minutes. Every picture is a grab of the X screen: tooltips and menus
are in it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "resources" / "examples"
LAPTOP = (1366, 768)
LARGE = (1600, 1000)

# name -> (screen size, what it shows); the functions are below, named shot_<name>
SHOTS: dict[str, tuple[tuple[int, int], str]] = {
    "editor": (LAPTOP, "the MNIST CNN example opened"),
    "learner": (LAPTOP, "a layer's tooltip: how its numbers are computed"),
    "overview": (LAPTOP, "ResNet-34: a big model and its overview"),
    "quickfix": (LAPTOP, "a Conv2D after a flat input, and its quick fix menu"),
    "code": (LAPTOP, "the Code tab"),
    "data": (LAPTOP, "the data dialog's preview of the digits"),
    "training": (LAPTOP, "LeNet-5 trained a few epochs on the digits"),
    "inspect-maps": (LAPTOP, "feature maps in the Inspect dock after training"),
    "gradcam": (LARGE, "Grad-CAM of a digit in the Inspect dock"),
    "block-edit": (LAPTOP, "editing the residual unit of ResNet-34"),
    "application": (LAPTOP, "VGG16 placed frozen, with a classifier head"),
    "app-expanded": (LARGE, "VGG16 expanded into its layers"),
    "app-collapsed": (LAPTOP, "VGG16 collapsed back into one block"),
}


# -- the parent: one Xvfb and one editor process per screen size ----------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="which screenshots (default: all)")
    parser.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs")
    parser.add_argument("--list", action="store_true", help="list the screenshots and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, (size, what) in SHOTS.items():
            print(f"{name:14s} {size[0]}x{size[1]}  {what}")
        return 0
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        print(f"screenshots: unknown name {', '.join(unknown)}; choose from "
              f"{', '.join(SHOTS)}", file=sys.stderr)
        return 1
    if shutil.which("Xvfb") is None:
        print("screenshots: Xvfb is missing; install it (apt-get install xvfb)", file=sys.stderr)
        return 1
    names = args.names or list(SHOTS)
    sizes: dict[tuple[int, int], list[str]] = {}
    for name in names:
        sizes.setdefault(SHOTS[name][0], []).append(name)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    failed = 0
    for k, ((width, height), group) in enumerate(sizes.items()):
        failed += run_on_screen(width, height, group, args.out, display=f":{97 + k}")
    return 1 if failed else 0


def run_on_screen(width: int, height: int, names: list[str], out: str, display: str) -> int:
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{width}x{height}x24",
                             "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory(prefix="nb-shots-") as home:
            env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb",
                       XDG_CONFIG_HOME=home, TF_CPP_MIN_LOG_LEVEL="3",
                       NETBUILDER_SHOTS_OUT=out)
            env.pop("WAYLAND_DISPLAY", None)
            done = subprocess.run([sys.executable, __file__, "--child", *names], env=env,
                                  cwd=ROOT, check=False)
            return done.returncode
    finally:
        xvfb.terminate()
        xvfb.wait()


# -- the child: the editor, driven ------------------------------------------------------------

class Shooter:
    def __init__(self, out: Path) -> None:
        from netbuilder.ui.app import application

        self.out = out
        self.app = application()
        self.window: Any = None

    def pump(self, ms: int = 300) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(self, ready: Callable[[], bool], seconds: float, what: str) -> None:
        end = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > end:
                raise TimeoutError(f"waited {seconds:.0f} s for {what}")
            self.pump(200)

    def open(self, example: str | None) -> Any:
        from netbuilder.ui.app import create_window
        from netbuilder.ui.canvas.view import OPEN_MIN_ZOOM

        if self.window is not None:
            self.window.document.undo_stack.setClean()
            self.window.close()
            self.pump(300)
        path = str(EXAMPLES / f"{example}.nbproj") if example else None
        window, error = create_window(path)
        if error:
            raise RuntimeError(error)
        if example is None:
            window.new_project()          # not the last file opened
        window.show()
        self.pump(600)
        # no window manager maximises it on Xvfb: the whole screen, as maximised on a laptop
        window.setGeometry(self.app.primaryScreen().availableGeometry())
        self.pump(300)
        window.default_docks()
        window.fit_to_view(min_zoom=OPEN_MIN_ZOOM)
        self.pump(600)
        self.window = window
        return window

    def save(self, name: str, widget: Any = None) -> None:
        """Grab the screen (menus and tooltips included), or the part ``widget`` covers."""
        self.pump(500)
        screen = self.app.primaryScreen()
        if widget is None:
            picture = screen.grabWindow(0)
        else:
            frame = widget.frameGeometry()
            picture = screen.grabWindow(0, frame.x(), frame.y(), frame.width(),
                                        frame.height())
        path = self.out / f"screenshot-{name}.png"
        picture.save(str(path))
        print(f"saved {path} ({picture.width()}x{picture.height()})", flush=True)

    def node(self, name: str) -> str:
        return next(n for n, node in self.window.graph.nodes.items() if node.name == name)

    def tooltip(self, node_id: str) -> None:
        from PySide6.QtCore import QPoint
        from PySide6.QtWidgets import QToolTip

        w = self.window
        item = w.scene.node_items[node_id]
        corner = w.view.mapFromScene(item.sceneBoundingRect().topRight())
        QToolTip.showText(w.view.viewport().mapToGlobal(corner + QPoint(-30, 40)),
                          item.toolTip(), w.view.viewport())

    def train_lenet(self) -> Any:
        w = self.open("lenet5")
        panel = w.training_panel
        panel.form.epochs_spin.setValue(6)
        w.training_dock.show()
        w.training_dock.raise_()
        self.pump(600)
        if not w.train():
            raise RuntimeError("training did not start: " + panel.status_label.text())
        self.wait(lambda: panel.terminal is not None and not panel.client.running(), 300,
                  "the training run")
        self.pump(1500)
        return w


def shot_editor(s: Shooter) -> None:
    w = s.open("mnist_cnn")
    w.scene.select_node(s.node("conv2d_1"))
    s.save("editor")


def shot_learner(s: Shooter) -> None:
    w = s.open("mnist_cnn")
    w.scene.select_node(s.node("conv2d"))
    s.pump(300)
    s.tooltip(s.node("conv2d"))
    s.save("learner")


def shot_overview(s: Shooter) -> None:
    w = s.open("resnet34")
    w.show_overview(True)
    s.save("overview")


def shot_quickfix(s: Shooter) -> None:
    from PySide6.QtCore import QPoint

    w = s.open(None)
    doc = w.document
    inp = doc.add_layer("Input", (0.0, 0.0))
    doc.set_param(inp, "shape", [784])
    conv = doc.add_layer("Conv2D", (0.0, 140.0))
    doc.connect(inp, conv)
    w.scene.select_node(conv)
    w.fit_to_view()
    s.pump(500)
    item = w.scene.node_items[conv]
    where = w.view.mapFromScene(item.sceneBoundingRect().center())
    menu = w.scene.node_menu(conv)
    menu.popup(w.view.viewport().mapToGlobal(where + QPoint(40, 10)))
    s.save("quickfix")
    menu.close()


def shot_code(s: Shooter) -> None:
    w = s.open("mnist_cnn")
    w.code_dock.show()
    w.code_dock.raise_()
    s.save("code")


def shot_data(s: Shooter) -> None:
    w = s.open("lenet5")
    dialog = w.training_panel.form.open_data_dialog(modal=False)
    s.pump(300)
    dialog.preview()
    s.wait(lambda: not dialog.is_previewing(), 120, "the data preview")
    s.save("data", dialog)
    dialog.reject()


def shot_training(s: Shooter) -> None:
    w = s.train_lenet()
    w.training_panel.results_tabs.setCurrentWidget(w.training_panel.plot_area)
    s.save("training")


def _inspect(s: Shooter, view: str, layer: str, name: str) -> None:
    w = s.window if s.window is not None and s.window.graph.nodes and \
        any(n.name == layer for n in s.window.graph.nodes.values()) and \
        s.window.training_panel.last_model is not None else s.train_lenet()
    panel = w.inspect_panel
    w.scene.select_node(s.node(layer))
    w.inspect_layer(s.node(layer))
    panel.show_view(view)
    for _ in range(2):            # the model loads, then the view is asked for
        s.pump(1500)
        s.wait(lambda: not panel.pending, 180, "the Inspect view")
    s.pump(1000)
    s.save(name)


def shot_inspect_maps(s: Shooter) -> None:
    _inspect(s, "maps", "conv2d", "inspect-maps")


def shot_gradcam(s: Shooter) -> None:
    _inspect(s, "gradcam", "conv2d_1", "gradcam")


def shot_block_edit(s: Shooter) -> None:
    from netbuilder.ui.features.blocks import BlockEditorDialog

    w = s.open(None)
    doc = w.document
    x = doc.add_layer("Input", (0.0, 0.0))
    doc.set_param(x, "shape", [56, 56, 64])
    for k in range(3):                    # three residual units in a row
        unit = doc.add_layer("block:builtin:residual_unit", (0.0, 140.0 * (k + 1)))
        doc.connect(x, unit)
        x = unit
    dialog = BlockEditorDialog(w.graph, "residual_unit", w)
    dialog.show()
    s.pump(800)
    dialog.scene.select_node(next(n for n, node in dialog.sub.nodes.items()
                                  if node.name == "skip_conv"))
    s.save("block-edit", dialog)
    dialog.reject()


VGG = {"name": "VGG16", "include_top": False, "pooling": None, "weights": None,
       "input_shape": [150, 150, 3], "classes": 1000}


def _vgg(s: Shooter) -> tuple[Any, str]:
    w = s.open(None)
    actions = w.application_actions
    actions.ask_application = lambda: (dict(VGG), True)
    actions.application_action.trigger()
    s.wait(lambda: actions.job is None, 120, "VGG16")
    base = next(n.id for n in w.graph.nodes.values() if n.type == "Block")
    actions.add_head(base, classes=2)
    w.arrange()
    w.fit_to_view()
    return w, base


def shot_application(s: Shooter) -> None:
    w, base = _vgg(s)
    w.scene.select_node(base)
    s.save("application")


def shot_app_expanded(s: Shooter) -> None:
    w, base = _vgg(s)
    w.scene.select_node(base)
    w.block_actions.expand(base)
    w.arrange()
    w.fit_to_view()
    s.save("app-expanded")
    s.window.scene.select_nodes([])


def shot_app_collapsed(s: Shooter) -> None:
    w, base = _vgg(s)
    w.scene.select_node(base)
    expanded = w.block_actions.expand(base) or []
    w.scene.select_node(expanded[0])
    w.block_actions.collapse(expanded[0])
    w.arrange()
    w.fit_to_view()
    s.save("app-collapsed")


def child(names: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    shooter = Shooter(Path(os.environ["NETBUILDER_SHOTS_OUT"]))
    failed = 0
    for name in names:
        try:
            globals()[f"shot_{name.replace('-', '_')}"](shooter)
        except Exception as error:        # one failed picture does not stop the others
            print(f"screenshots: {name}: {type(error).__name__}: {error}", file=sys.stderr)
            failed += 1
    if shooter.window is not None:
        shooter.window.document.undo_stack.setClean()
    os._exit(1 if failed else 0)          # the workers' and Qt's teardown are not waited for


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    sys.exit(main())
