"""Plain text for people, shared by the command line and the editor."""

from __future__ import annotations


def format_duration(seconds: float | None, sep: str = "") -> str:
    """45 -> "45s", 125 -> "2m05s", 7300 -> "2h01m" (``sep`` goes between the units)."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sep}{s:02d}s"
    hours, m = divmod(minutes, 60)
    return f"{hours}h{sep}{m:02d}m"
