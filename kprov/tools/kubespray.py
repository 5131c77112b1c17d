"""Resolve the site's Kubespray: a local path, or a version tag cloned with git into a cache, each with its own
virtualenv built from that tree's ``requirements.txt``.

Kubespray pins its Ansible tightly (v2.31: ansible-core 2.18.x) and asserts it in every playbook, so its Ansible
must never be kprov's: the venv's ``bin`` goes first on PATH only for the playbook run.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from kprov.engine.fingerprint import tree_identity
from kprov.errors import BootstrapError
from kprov.events import Events, null_events
from kprov.site.model import KubesprayRef

STAGE = "kubespray"
CHECKSUMS = Path("roles/kubespray_defaults/vars/main/checksums.yml")
ENTRY_POINTS = ("cluster.yml", "scale.yml", "remove-node.yml", "upgrade-cluster.yml", "reset.yml")


def cache_root() -> Path:
    """Where Kubespray clones and venvs are kept: ``$KPROV_CACHE_DIR``, else ``$XDG_CACHE_HOME/kprov``."""
    if os.environ.get("KPROV_CACHE_DIR"):
        return Path(os.environ["KPROV_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kprov"


@dataclass(frozen=True)
class Kubespray:
    root: Path
    venv: Path
    label: str

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def playbook(self, name: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise BootstrapError(f"Kubespray at {self.root} has no {name}")
        return path

    def supported_versions(self) -> set[str] | None:
        return supported_versions(self.root)

    def commit(self) -> str:
        """What the tree is (commit plus local edits, or a content digest): part of fingerprints. Worked out
        once per command: several stages' fingerprints include it."""
        return self._identity

    @cached_property
    def _identity(self) -> str:
        return tree_identity(self.root)


def supported_versions(root: Path) -> set[str] | None:
    """Kubernetes versions a Kubespray tree can install: the keys of its kubelet checksums (any arch)."""
    try:
        data = yaml.safe_load((root / CHECKSUMS).read_text())
    except (OSError, yaml.YAMLError):
        return None
    table = (data or {}).get("kubelet_checksums") or {}
    versions = {str(v) for arch in table.values() if isinstance(arch, dict) for v in arch}
    return versions or None


def local_tree(ref: KubesprayRef, base: Path) -> Path | None:
    """The tree if it is already on disk (a path, or a cached clone), without fetching anything."""
    if ref.path is not None:
        p = Path(ref.path).expanduser()
        return p if p.is_absolute() else base / p
    assert ref.version is not None
    src = cache_root() / "kubespray" / ref.version / "src"
    return src if src.is_dir() else None


def resolve(ref: KubesprayRef, base: Path, events: Events | None = None) -> Kubespray:
    """Make the site's Kubespray ready to run: tree present, venv built. Cached by version / requirements."""
    events = events or null_events()
    if ref.path is not None:
        root = local_tree(ref, base)
        assert root is not None
        if not (root / "cluster.yml").is_file():
            raise BootstrapError(f"kubernetes.kubespray.path {root} is not a Kubespray tree (no cluster.yml)")
        label = f"path {root}"
    else:
        assert ref.version is not None
        root = _clone(ref.repo, ref.version, events)
        label = ref.version
    if ref.venv is not None:
        venv = Path(ref.venv).expanduser()
        venv = venv if venv.is_absolute() else base / venv
        if not (venv / "bin" / "ansible-playbook").exists():
            raise BootstrapError(f"kubernetes.kubespray.venv {venv} has no bin/ansible-playbook")
    else:
        venv = ensure_venv(root / "requirements.txt", events)
    return Kubespray(root=root, venv=venv, label=label)


def _locked(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _clone(repo: str, version: str, events: Events) -> Path:
    home = cache_root() / "kubespray" / version
    src = home / "src"
    fd = _locked(home / ".lock")
    try:
        if (src / "cluster.yml").is_file():
            return src
        events.emit(STAGE, "progress", f"cloning Kubespray {version}")
        tmp = home / "src.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        proc = subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", version, "--", repo, str(tmp)],
            capture_output=True, text=True, check=False, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            last = (proc.stderr.strip().splitlines() or ["git failed"])[-1]
            raise BootstrapError(f"cannot fetch Kubespray {version} from {repo}: {last}")
        tmp.rename(src)
        return src
    finally:
        os.close(fd)


def ensure_venv(requirements: Path, events: Events) -> Path:
    """A venv with ``requirements`` installed, shared by every site that pins the same requirements."""
    if not requirements.is_file():
        raise BootstrapError(f"{requirements} not found: cannot build Kubespray's virtualenv")
    key = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = cache_root() / "venvs" / key
    fd = _locked(venv.parent / f"{key}.lock")
    try:
        if (venv / ".kprov-ready").exists():
            return venv
        events.emit(STAGE, "progress", f"building Kubespray's virtualenv from {requirements.name}")
        shutil.rmtree(venv, ignore_errors=True)
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "pip"), "install", "--quiet", "-r", str(requirements)]]
        for argv in steps:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                raise BootstrapError(f"building Kubespray's virtualenv failed: {last}")
        (venv / ".kprov-ready").write_text(requirements.read_text())
        return venv
    finally:
        os.close(fd)
