"""The installed Qt binding must survive many calls of methods that return nothing.

PySide6 6.12.0 corrupts None's refcount on Python <= 3.11: after ~1,000 such calls the process
aborts with "Fatal Python error: none_dealloc". pyproject.toml excludes it; this catches it (or a
bug like it) should it ever be installed.
"""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("PySide6")


def test_methods_returning_none_do_not_corrupt_refcounts():
    code = textwrap.dedent("""
        import sys
        from PySide6.QtCore import QObject
        from PySide6.QtWidgets import QApplication, QWidget
        app = QApplication([])
        before = sys.getrefcount(None)
        obj = QObject()
        widget = QWidget()
        for i in range(20000):
            obj.setObjectName("x")
            widget.setWindowTitle("t")
        after = sys.getrefcount(None)
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**__import__("os").environ,
                                              "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_excluded_pyside_version_is_not_installed():
    import PySide6

    if sys.version_info < (3, 12):
        assert PySide6.__version__ != "6.12.0"
