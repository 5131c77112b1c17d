"""VM snapshots kprov made, as the workdir records them (``snapshots.json``): each snapshot's name, when it was
taken and the nodes it covers. The record is what Terraform is told to keep: every render puts each node's
snapshot names into its module input (``NodeInput.snapshots``), and a target that has a snapshot resource
(``lxd``) makes one per node and name. So `up` never drops a snapshot, and `kprov snapshot delete` is a
Terraform change like any other."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from kprov.engine.workdir import write_atomic
from kprov.errors import UsageError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


class Snapshot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    created: str
    nodes: tuple[str, ...]
    kubernetes: str | None = None
    """The Kubernetes version the cluster ran when the snapshot was taken (None: not bootstrapped yet). A revert
    of every member puts the cluster back there, and the member record says so."""


def load(path: Path) -> list[Snapshot]:
    """The recorded snapshots, oldest first; none when there is no record."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable snapshot record ({exc}); fix or remove it") from None
    try:
        return [Snapshot.model_validate(s) for s in raw]
    except (ValidationError, TypeError) as exc:
        raise UsageError(f"{path}: not a snapshot record ({exc})") from None


def save(path: Path, snapshots: Sequence[Snapshot]) -> None:
    write_atomic(path, json.dumps([s.model_dump(mode="json") for s in snapshots], indent=2) + "\n")


def new(name: str, nodes: Sequence[str], kubernetes: str | None = None) -> Snapshot:
    return Snapshot(name=name, created=datetime.now(UTC).isoformat(timespec="seconds"), nodes=tuple(nodes),
                    kubernetes=kubernetes)


def by_node(snapshots: Sequence[Snapshot]) -> dict[str, tuple[str, ...]]:
    """Node name → the snapshot names it must have, oldest first."""
    out: dict[str, list[str]] = {}
    for s in snapshots:
        for node in s.nodes:
            out.setdefault(node, []).append(s.name)
    return {node: tuple(names) for node, names in out.items()}
