"""The editor opens a real window: started as a user starts it, on Qt's xcb platform, on a
virtual X server (Xvfb). Every other test uses the offscreen platform, which needs none of xcb's
system libraries: only this one fails on a machine where the editor would abort (code 134)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "resources" / "examples" / "mnist_cnn.nbproj"
TOOLS = {"Xvfb": "xvfb", "xdotool": "xdotool"}  # command: its Debian package

pytestmark = [pytest.mark.slow, pytest.mark.gui,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 is Linux's")]


def unavailable(reason: str) -> None:
    """Skip, except in CI, which must run this test."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


def tools() -> None:
    """Xvfb and xdotool, installed with apt-get when missing and root."""
    def missing() -> list[str]:
        return [package for tool, package in TOOLS.items() if shutil.which(tool) is None]

    if missing() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing()], env=env,
                       capture_output=True, timeout=600)
    if missing():
        unavailable(f"needs {', '.join(missing())}: apt-get install {' '.join(missing())}")


@pytest.fixture
def x_display(tmp_path):
    """A virtual X server on a free display number (Xvfb picks it): its name, e.g. ':1'."""
    tools()
    read, write = os.pipe()
    log = tmp_path / "xvfb.log"
    with log.open("w") as out:
        server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0",
                                   "1280x800x24", "-nolisten", "tcp"],
                                  pass_fds=(write,), stdout=out, stderr=subprocess.STDOUT)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            unavailable(f"Xvfb did not start: {log.read_text()[-2000:]}")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def find_window(display: str, name: str, editor: subprocess.Popen, log: Path) -> str:
    """The id of the visible window whose title holds ``name``; fails if the editor exits or
    no such window shows within a minute."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if editor.poll() is not None:
            pytest.fail(f"the editor exited with code {editor.returncode} before a window "
                        f"showed:\n{log.read_text()[-3000:]}")
        found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name],
                               capture_output=True, text=True, timeout=10,
                               env={**os.environ, "DISPLAY": display})
        if found.stdout.split():
            return found.stdout.split()[0]
        time.sleep(0.25)
    pytest.fail(f"no window titled {name!r} within a minute:\n{log.read_text()[-3000:]}")


def test_the_editor_opens_a_window_on_an_x_display(x_display, tmp_path):
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {name: value for name, value in os.environ.items()
           if name not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    # settings and recovery files of this run stay in the test's folder
    env.update(DISPLAY=x_display, QT_QPA_PLATFORM="xcb", XDG_RUNTIME_DIR=str(runtime),
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"))
    script = Path(sys.executable).with_name("netbuilder")  # the command a user types
    command = [str(script)] if script.is_file() else [sys.executable, str(ROOT / "main.py")]
    log = tmp_path / "editor.log"
    with log.open("w") as out:
        editor = subprocess.Popen([*command, str(EXAMPLE)], env=env, cwd=tmp_path,
                                  stdout=out, stderr=subprocess.STDOUT)
    try:
        window = find_window(x_display, "mnist_cnn", editor, log)
        title = subprocess.run(["xdotool", "getwindowname", window], capture_output=True,
                               text=True, timeout=10, env=env).stdout
        assert "mnist_cnn" in title and "NetBuilder" in title, title
        # closed as a user closes it: Ctrl+Q in the window
        subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "ctrl+q"],
                       check=True, timeout=10, env=env)
        code = editor.wait(timeout=30)
    finally:
        if editor.poll() is None:
            editor.kill()
            editor.wait()
    assert code == 0, log.read_text()[-3000:]
