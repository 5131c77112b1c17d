"""Finding the processes a test started, by a mark in their environment (children inherit it), to check that
none outlives what should have ended them."""

from __future__ import annotations

import os
from pathlib import Path


def marked(mark: str) -> list[int]:
    """Processes other than this one whose environment holds ``mark`` (``NAME=value``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
