"""``kprov snapshot list|create|revert|delete``: VM snapshots of a running site's nodes
(:mod:`kprov.stages.snapshot`). Revert and delete are asked first (on a terminal, or ``--yes``)."""

from __future__ import annotations

from kprov import snapshots as record
from kprov.commands.base import Command
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session, Stage
from kprov.snapshots import Snapshot
from kprov.stages.snapshot import SnapshotChange, SnapshotRevert, check_request, find


def _stages(session: Session) -> list[Stage]:
    action, name = str(session.options["action"]), str(session.options["name"])
    return [SnapshotRevert(name) if action == "revert" else SnapshotChange(action, name)]


def _question(session: Session) -> str:
    action, name = str(session.options["action"]), str(session.options["name"])
    snap = find(session, name)
    if action == "revert":
        return (f"Revert {', '.join(snap.nodes)} to snapshot {name} of {snap.created}? Everything written on them "
                "since is lost.")
    return f"Delete snapshot {name} of {', '.join(snap.nodes)}?"


CREATE = Command("snapshot", _stages, requires=check_request)
CHANGE = Command("snapshot", _stages, requires=check_request, confirm=_question, refusal="change snapshots")


def listing(session: Session) -> list[Snapshot]:
    """VM snapshots, and the etcd snapshots in the workdir (with their checksums)."""
    from kprov import etcd  # noqa: PLC0415

    snaps = record.load(session.workdir.snapshots_file)
    session.events.emit("snapshot", "table", "", report=True, title=f"VM snapshots of {session.loaded.name}",
                        columns=["name", "created", "nodes"],
                        rows=[[s.name, s.created, ", ".join(s.nodes)] for s in snaps])
    saved = etcd.listing(session)
    if saved:
        session.events.emit("snapshot", "table", "", report=True, title=f"etcd snapshots in {etcd.folder(session)}",
                            columns=["file", "created", "Kubernetes", "sha256", "why"],
                            rows=[[e.file, e.created, e.kubernetes, e.sha256[:16], e.reason] for e in saved])
    session.events.emit("snapshot", "result", f"{len(snaps)} VM snapshot(s), {len(saved)} etcd snapshot(s)",
                        snapshots=[s.model_dump(mode="json") for s in snaps],
                        etcd=[e.model_dump(mode="json") for e in saved])
    return snaps


def finish(session: Session, outcomes: list[StageOutcome]) -> list[str]:
    nodes = [str(n) for n in outcomes[-1].result or []]
    action, name = session.options["action"], session.options["name"]
    session.events.emit("snapshot", "result", f"snapshot {name}: {action} done on {len(nodes)} node(s)",
                        action=action, snapshot=name, nodes=nodes)
    return nodes
