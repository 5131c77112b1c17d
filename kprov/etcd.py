"""etcd snapshots of a running site, saved into the workdir (``etcd-snapshots/``) with their SHA-256, before
every upgrade step and on demand (``kprov etcd snapshot``).

Taken on the first etcd member with Kubespray's own wrapper, ``/usr/local/bin/etcdctl.sh`` (etcdctl with the
admin certificates against the local member), over the site's SSH configuration; copied back with ``scp``;
removed from the node. ``index.json`` lists them, newest last: file, checksum, node, Kubernetes version, why.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from kprov.engine.stage import Session
from kprov.engine.workdir import private_dir, write_atomic
from kprov.errors import InfrastructureError, UsageError
from kprov.members import load as load_members
from kprov.nodes import Node
from kprov.site.types import Role

ETCDCTL = "/usr/local/bin/etcdctl.sh"


class EtcdSnapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str
    sha256: str
    node: str
    created: str
    kubernetes: str
    reason: str


def folder(session: Session) -> Path:
    return session.workdir.root / "etcd-snapshots"


def listing(session: Session) -> list[EtcdSnapshot]:
    try:
        raw = json.loads((folder(session) / "index.json").read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UsageError(f"{folder(session) / 'index.json'}: unreadable ({exc})") from None
    return [EtcdSnapshot.model_validate(s) for s in raw]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(argv: list[str], what: str, timeout: float = 300, *, stderr: bool = False) -> str:
    """Run ``argv``; its output (with ``stderr``: both streams, as etcdctl writes its health report there)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise InfrastructureError(f"{what}: {detail}")
    return proc.stdout + (proc.stderr if stderr else "")


def _first_member(session: Session) -> tuple[Node, Path, list[str], list[str]] | None:
    """The first etcd member kprov brought up, the site's ssh_config, ``ssh -F CONFIG NODE --`` and the ``sudo``
    prefix its user needs (none for root); None without one."""
    nodes = {n.name: n for n in session.known_nodes()}
    members = [m for m in load_members(session.workdir.members_file) if m.has(Role.ETCD) and m.name in nodes]
    if not members:
        return None
    node = nodes[members[0].name]
    config = session.ssh_config(list(nodes.values()))
    return node, config, ["ssh", "-F", str(config), node.name, "--"], [] if node.ssh_user == "root" else ["sudo", "-n"]


def take(session: Session, reason: str, version: str) -> EtcdSnapshot:
    """Snapshot the site's etcd through its first member; the file and its checksum land in the workdir."""
    found = _first_member(session)
    if found is None:
        raise UsageError(f"site {session.loaded.name} has no etcd member kprov brought up (etcd_deployment_type: "
                         "kubeadm keeps etcd inside the control plane; not supported here)")
    node, config, ssh, sudo = found
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    local = private_dir(folder(session)) / f"{stamp}-{version}.db"
    what = f"etcd snapshot on {node.name}"
    # mktemp: a new 0700 folder, never a predictable path another user of the node could prepare
    tmp = _run([*ssh, *sudo, "mktemp", "-d", "/var/tmp/kprov-etcd.XXXXXXXX"], what).strip()  # noqa: S108
    remote = f"{tmp}/snapshot.db"
    try:
        _run([*ssh, *sudo, ETCDCTL, "snapshot", "save", remote], what)
        if sudo:
            _run([*ssh, *sudo, "chown", "-R", node.ssh_user, tmp], what)
        _run(["scp", "-q", "-F", str(config), f"{node.name}:{remote}", str(local)],
             f"copying the etcd snapshot from {node.name}")
    finally:
        subprocess.run([*ssh, *sudo, "rm", "-rf", tmp], capture_output=True, check=False, timeout=60,
                       stdin=subprocess.DEVNULL)
    local.chmod(0o600)
    snap = EtcdSnapshot(file=local.name, sha256=sha256(local), node=node.name,
                        created=datetime.now(UTC).isoformat(timespec="seconds"), kubernetes=version, reason=reason)
    write_atomic(folder(session) / "index.json",
                 json.dumps([s.model_dump() for s in [*listing(session), snap]], indent=2) + "\n")
    session.events.emit("etcd", "info", f"etcd snapshot {snap.file} ({snap.sha256[:12]}…) from {node.name}",
                        host=node.name, file=str(local), sha256=snap.sha256)
    return snap


def health(session: Session) -> tuple[list[str], str]:
    """The etcd member names, and ``endpoint health --cluster``'s report, asked on the first etcd member."""
    found = _first_member(session)
    if found is None:
        return [], ""
    node, _, remote, sudo = found
    ssh = [*remote, *sudo, ETCDCTL]
    listed = json.loads(_run([*ssh, "member", "list", "-w", "json"], f"etcd member list on {node.name}") or "{}")
    names = sorted(str(m.get("name", "")) for m in listed.get("members", []))
    report = _run([*ssh, "endpoint", "health", "--cluster"], f"etcd health on {node.name}", stderr=True)
    return names, report
