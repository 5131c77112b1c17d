"""Stage fingerprints: a stage whose inputs did not change since it last succeeded is skipped.

``state.json`` maps each stage to the SHA-256 of its inputs and when it finished; it is rewritten atomically
after every stage, so an interrupted run resumes at the first stage that did not finish.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kprov.workdir import write_atomic

STAGES = ("infra", "inventory", "ssh", "preflight", "bootstrap", "verify")
"""The stages of ``kprov up``, in order."""


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

    def record_converged(self, key: str, site: Path, kubespray_root: Path) -> None:
        """After an `up` in which every stage succeeded or was skipped: the key of all its inputs."""
        self.data["converged"] = {"key": key, "site": str(site), "kubespray_root": str(kubespray_root),
                                  "finished": datetime.now(UTC).isoformat(timespec="seconds")}
        self._save()

    def _save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True))


def tree_identity(root: Path) -> str:
    """Identity of a source tree (a Kubespray checkout): its git commit plus a digest of uncommitted changes to
    tracked files under it, or, outside git, a digest of its playbooks, roles and requirements."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0 and head.stdout.strip():
        diff = subprocess.run(["git", "-C", str(root), "diff", "HEAD", "--", "."], capture_output=True, check=False)
        return f"{head.stdout.strip()}+{hashlib.sha256(diff.stdout).hexdigest()[:16]}"
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".yml", ".yaml", ".txt", ".cfg", ".py", ".j2"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()
