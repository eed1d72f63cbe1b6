"""Can Qt open a window here? Asked before Qt starts, since Qt aborts (exit code 134) when it
cannot: is there a display, and does the platform plugin that would draw on it find its system
libraries (``ldd`` on the plugin, about 15 ms)?

Imports nothing from Qt, so that it also runs where Qt cannot load: scripts/setup.sh runs
``python -m netbuilder.ui.qt_platform PLATFORM...``, which prints one ``LIBRARY PACKAGE`` line
(the Debian package) for each system library those platforms' plugins lack (see ``main``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

# the platforms that draw on a display server, and the variable that names its display;
# every other one (offscreen, minimal, vnc, linuxfb, eglfs...) needs none
DISPLAY_VARIABLES = {"xcb": "DISPLAY", "wayland": "WAYLAND_DISPLAY"}

# Debian packages whose name does not follow from the library's (see debian_package)
_PACKAGES = {"libglib-2.0": "libglib2.0-0", "libgthread-2.0": "libglib2.0-0",
             "libgobject-2.0": "libglib2.0-0", "libz": "zlib1g", "libGLdispatch": "libglvnd0",
             "libgcc_s": "libgcc-s1", "libbrotlidec": "libbrotli1",
             "libbrotlicommon": "libbrotli1"}

_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


def debian_package(library: str) -> str:
    """The Debian (and Ubuntu) package that holds ``library``, by Debian's naming policy: its
    name and major version, with a hyphen between when the name ends in a digit
    (libxcb-icccm.so.4 → libxcb-icccm4, libX11.so.6 → libx11-6)."""
    name, _, version = library.partition(".so")
    if name in _PACKAGES:
        return _PACKAGES[name]
    name = name.lower()
    major = version.lstrip(".").split(".")[0]
    return f"{name}-{major}" if name[-1:].isdigit() and major else name + major


def plugin_file(platform: str) -> Path | None:
    """The file of Qt's ``platform`` plugin in the installed PySide6, or None."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "Qt" / "plugins" / "platforms"
    for name in (platform, platform.split("-")[0]):  # wayland-egl lives in libqwayland.so
        path = directory / f"libq{name}.so"
        if path.is_file():
            return path
    return None


def missing_libraries(platform: str) -> list[str]:
    """The system libraries that Qt's ``platform`` plugin, or a library it loads, cannot find
    (empty when none, or when the plugin or ``ldd`` is not there to ask)."""
    plugin = plugin_file(platform)
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return []
    listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True).stdout
    return sorted(set(_NOT_FOUND.findall(listing)))


def missing_message(libraries: list[str]) -> str:
    """Which system libraries are missing, and how to install them on this machine."""
    names = " ".join(sorted({debian_package(library) for library in libraries}))
    if shutil.which("apt-get") is None:
        how = f"install the packages that provide them (on Debian and Ubuntu: {names})"
    else:
        how = f"install them: {'' if os.geteuid() == 0 else 'sudo '}apt-get install {names}"
    return f"these system libraries are missing: {', '.join(libraries)}; {how}"


def window_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why Qt can open no window here (it would abort), or None. Linux only: elsewhere Qt's
    platform needs no display server."""
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ if environ is None else environ
    requested = [p.strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    # unset: Qt's own choice, Wayland in a Wayland session, else X11
    platforms = requested or [name for name in ("wayland", "xcb")
                              if env.get(DISPLAY_VARIABLES[name])]
    lacking: dict[str, list[str]] = {}
    unset: list[str] = []
    for platform in platforms:
        name, _, options = platform.partition(":")
        variable = DISPLAY_VARIABLES.get(name.split("-")[0])
        if variable is None or options:  # needs no display, or is told which one
            return None
        if not env.get(variable):
            if variable not in unset:
                unset.append(variable)
            continue
        lacking[name] = missing_libraries(name)
        if not lacking[name]:
            return None
    if not lacking:
        asked = (f"QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']} but {' and '.join(unset)} "
                 f"{'is' if len(unset) == 1 else 'are'} not set" if requested
                 else "neither DISPLAY nor WAYLAND_DISPLAY is set")
        return (f"no display to open the editor on ({asked}). Run it in a desktop session, "
                "over ssh -X, or under a virtual screen (xvfb-run netbuilder); "
                "QT_QPA_PLATFORM=offscreen starts it with no screen at all, for a check. "
                "The command line needs no display: netbuilder summary PROJECT")
    libraries = sorted({library for missing in lacking.values() for library in missing})
    return (f"Qt's {' and '.join(lacking)} platform cannot open a window: "
            + missing_message(libraries))


def main(argv: list[str] | None = None) -> int:
    """``PLATFORM...``: one ``LIBRARY PACKAGE`` line per missing library;
    ``--explain PLATFORM...``: the sentence saying what to install."""
    args = sys.argv[1:] if argv is None else argv
    explain = args[:1] == ["--explain"]
    libraries = sorted({library for platform in args[explain:]
                        for library in missing_libraries(platform)})
    if explain and libraries:
        print(missing_message(libraries))
    elif not explain:
        for library in libraries:
            print(library, debian_package(library))
    return 0


if __name__ == "__main__":
    sys.exit(main())
