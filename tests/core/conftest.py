import pytest

from netbuilder.core.inference import InferenceEngine


@pytest.fixture(autouse=True)
def strict_inference(monkeypatch):
    """A bug in a spec fails the test instead of becoming a node error."""
    monkeypatch.setattr(InferenceEngine, "raise_internal_errors", True)
