"""Digests of a stage's inputs: JSON-able values, file trees, and the identity of a source tree (Kubespray).

Kept free of heavy imports: the no-op fast path (:mod:`kprov.engine.fastpath`) uses it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any


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
