"""Stage fingerprints: a stage whose inputs did not change since it last succeeded is skipped.

``state.json`` maps each stage to the SHA-256 of its inputs and when it finished; it is rewritten atomically
after every stage, so an interrupted run resumes at the first stage that did not finish.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kprov.engine.workdir import write_atomic


class StageState:
    """``state.json``: per stage, the fingerprint of its inputs at its last success; and the converged record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.data.setdefault("stages", {})

    def finished(self, stage: str) -> str | None:
        """When ``stage`` last succeeded (ISO time), or None."""
        value = self.data["stages"].get(stage, {}).get("finished")
        return str(value) if value else None

    def done(self, stage: str, fp: str) -> bool:
        return bool(self.data["stages"].get(stage, {}).get("fingerprint") == fp)

    def record(self, stage: str, fp: str) -> None:
        self.data["stages"][stage] = {"fingerprint": fp,
                                      "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        self.data.pop("converged", None)  # a stage ran: only a complete `up` may say the site is converged again
        self._save()

    def forget(self, *stages: str) -> None:
        """Drop stages (and so everything after them must re-run)."""
        for s in stages or list(self.data["stages"]):
            self.data["stages"].pop(s, None)
        self.data.pop("converged", None)
        self._save()

    def converged(self) -> dict[str, Any] | None:
        value = self.data.get("converged")
        return value if isinstance(value, dict) else None

    def record_converged(self, key: str, site: Path, kubespray_root: Path, stages: list[str],
                         outputs: list[Path] | None = None) -> None:
        """After an `up` in which every stage succeeded or was skipped: the key of all its inputs, the stages it
        ran (the fast path reports exactly those as skipped) and the files they left (the fast path declines
        when one is gone, as the full path would run its stage again)."""
        self.data["converged"] = {"key": key, "site": str(site), "kubespray_root": str(kubespray_root),
                                  "stages": stages, "outputs": [str(p) for p in outputs or []],
                                  "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        self._save()

    def _save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True))
