"""The site workdir (``.kprov/<site>/``, mode 0700): everything a later command or pipeline job needs.

Layout: ``terraform/`` (root module, modules, tfvars, state), ``inventory/`` (Kubespray inventory),
``runs/<time>-<command>/`` (the run store, :mod:`kprov.engine.runs`: events, result, ansible-runner dirs, Terraform
event logs, JUnit), ``nodes.json``, ``kubeconfig`` and ``known_hosts`` (0600), ``ssh_config``, ``facts/``,
``state.json`` (stage fingerprints), ``input-digests.json`` (the no-op fast path's cache of asset digests) and
``lock``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, mode: int = 0o600) -> None:
    """Write via a temp file + rename in the same folder, so a crash never leaves half a file. Folders it has to
    create are private (0700), like the rest of the workdir."""
    if not path.parent.is_dir():
        private_dir(path.parent)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent as 0700 (``mkdir(parents=True)`` would leave the parents at the
    umask's 0755), and tighten ``path`` if it already existed."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
    path.chmod(0o700)
    return path


class Workdir:
    def __init__(self, root: Path) -> None:
        self.root = root.absolute()

    @classmethod
    def for_site(cls, site_file: Path, site_name: str, override: Path | None = None) -> Workdir:
        return cls(override if override is not None else site_file.absolute().parent / ".kprov" / site_name)

    @property
    def terraform(self) -> Path:
        return self.root / "terraform"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def ssh_config(self) -> Path:
        return self.root / "ssh_config"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    @property
    def fact_cache(self) -> Path:
        """Ansible's fact cache for this site only (Kubespray's ansible.cfg would share /tmp between sites)."""
        return self.root / "facts"

    @property
    def nodes_file(self) -> Path:
        """The node list as Terraform last reported it (``terraform output -json``), for later commands."""
        return self.root / "nodes.json"

    @property
    def members_file(self) -> Path:
        """The cluster's members as kprov last brought them up (:mod:`kprov.members`)."""
        return self.root / "members.json"

    @property
    def snapshots_file(self) -> Path:
        """The VM snapshots kprov made (:mod:`kprov.snapshots`); Terraform keeps what it lists."""
        return self.root / "snapshots.json"

    def exists(self) -> bool:
        return self.root.is_dir()

    def ensure(self) -> Workdir:
        if self.root.parent.name == ".kprov":
            private_dir(self.root.parent)
        private_dir(self.root)
        for sub in (self.terraform, self.inventory, self.runs):
            private_dir(sub)
        return self
