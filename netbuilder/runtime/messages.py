"""Text for people from exceptions raised inside Keras and TensorFlow."""

from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (Keras' ``message`` when it has one), or its
    class name when the message is empty."""
    text = getattr(err, "message", None) or str(err)
    text = str(text).strip()
    return text.splitlines()[0] if text else type(err).__name__
