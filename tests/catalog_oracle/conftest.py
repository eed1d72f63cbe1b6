import pytest

pytest.importorskip("keras")
