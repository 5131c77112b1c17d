"""Stage fingerprints: a stage whose inputs did not change since it last succeeded is skipped.

``state.json`` maps each stage to the SHA-256 of its inputs and when it finished; it is rewritten atomically
after every stage, so an interrupted run resumes at the first stage that did not finish.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kprov.workdir import write_atomic


def fingerprint(*parts: Any) -> str:
    """A stable digest of JSON-able parts (dicts are key-sorted)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def file_digest(*paths: Path) -> str:
    """Digest of files' contents (missing files count as empty), e.g. a rendered module tree."""
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            h.update(f.read_bytes() if f.exists() else b"")
    return h.hexdigest()


class StageState:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("stages", {})

    def done(self, stage: str, fp: str) -> bool:
        return bool(self.data["stages"].get(stage, {}).get("fingerprint") == fp)

    def record(self, stage: str, fp: str) -> None:
        self.data["stages"][stage] = {"fingerprint": fp,
                                      "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True))

    def forget(self, *stages: str) -> None:
        """Drop stages (and so everything after them must re-run)."""
        for s in stages or list(self.data["stages"]):
            self.data["stages"].pop(s, None)
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True))
