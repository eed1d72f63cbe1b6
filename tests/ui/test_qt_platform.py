"""Before Qt starts (it aborts with code 134 when it cannot open a window), the editor says why
it cannot: no display, or the platform plugin's missing system libraries and their packages."""

import pytest

from netbuilder.ui import qt_platform


@pytest.fixture
def linux(monkeypatch):
    """Linux, where the xcb plugin lacks one library and the wayland plugin none; returns the
    platforms asked about."""
    asked: list[str] = []

    def missing(platform):
        asked.append(platform)
        return ["libxcb-icccm.so.4"] if platform == "xcb" else []

    monkeypatch.setattr(qt_platform.sys, "platform", "linux")
    monkeypatch.setattr(qt_platform, "missing_libraries", missing)
    return asked


@pytest.mark.parametrize("library, package", [
    ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libX11.so.6", "libx11-6"), ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libEGL.so.1", "libegl1"), ("libdbus-1.so.3", "libdbus-1-3"),
    ("libglib-2.0.so.0", "libglib2.0-0"), ("libstdc++.so.6", "libstdc++6")])
def test_the_debian_package_of_a_library(library, package):
    assert qt_platform.debian_package(library) == package


def test_no_display_says_what_to_do(linux):
    problem = qt_platform.window_problem({})
    assert "no display to open the editor on" in problem
    assert "ssh -X" in problem and "QT_QPA_PLATFORM=offscreen" in problem
    problem = qt_platform.window_problem({"QT_QPA_PLATFORM": "xcb"})
    assert "QT_QPA_PLATFORM=xcb but DISPLAY is not set" in problem
    assert linux == []  # nothing to ask ldd about


def test_missing_libraries_are_named_with_their_packages(linux):
    problem = qt_platform.window_problem({"DISPLAY": ":0"})
    assert "Qt's xcb platform cannot open a window" in problem
    assert "libxcb-icccm.so.4" in problem and "libxcb-icccm4" in problem


def test_a_platform_that_can_open_a_window_is_no_problem(linux):
    assert qt_platform.window_problem({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}) is None
    assert linux == ["wayland"]
    for headless in ("offscreen", "minimal", "vnc", "xcb;offscreen"):
        assert qt_platform.window_problem({"QT_QPA_PLATFORM": headless}) is None


def test_other_systems_are_not_checked(monkeypatch):
    monkeypatch.setattr(qt_platform.sys, "platform", "darwin")
    assert qt_platform.window_problem({}) is None


def test_the_installed_plugins_are_found_and_asked():
    if not qt_platform.sys.platform.startswith("linux"):
        pytest.skip("Qt's platform plugins are asked about on Linux")
    assert qt_platform.plugin_file("offscreen") is not None
    assert qt_platform.missing_libraries("offscreen") == []  # the tests run on it
    assert qt_platform.missing_libraries("no-such-platform") == []
