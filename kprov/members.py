"""The cluster's members as kprov last made them (``members.json``): each node a successful ``cluster.yml`` or
``scale.yml`` joined, with the instance that joined (a node made again since is new to the cluster), in the
inventory's order. Day 2 compares it with the nodes the site file asks for: who joins (and through which
playbook), who leaves (``remove-node.yml`` before Terraform destroys the machine)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from kprov.engine.workdir import write_atomic
from kprov.errors import UsageError
from kprov.nodes import Node
from kprov.site.types import Role


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    instance_id: str
    roles: tuple[Role, ...]
    host: str = ""
    """Digest of the node's inventory entry (its variables and groups) when it was last brought up."""

    def has(self, role: Role) -> bool:
        return role in self.roles


REVERTED = "reverted"
"""``Record.settings`` after a snapshot revert: the nodes are no longer as any bootstrap left them."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settings: str = ""
    """Digest of what applies to every node (group_vars, the Kubespray tree) when the cluster was last brought up,
    or :data:`REVERTED`."""
    version: str = ""
    """The Kubernetes version the cluster runs (the last cluster.yml's, or the last upgrade step's)."""
    members: tuple[Member, ...] = ()


def read(path: Path) -> Record:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return Record()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable member record ({exc}); remove it and run `kprov up --force`") from None
    try:
        return Record.model_validate(raw)
    except ValidationError as exc:
        raise UsageError(f"{path}: not a member record ({exc.errors()[0]['msg']}); remove it and run "
                         "`kprov up --force`") from None


def load(path: Path) -> list[Member]:
    return list(read(path).members)


def write(path: Path, record: Record) -> None:
    write_atomic(path, json.dumps(record.model_dump(mode="json"), indent=2) + "\n")


def save(path: Path, members: Sequence[Member]) -> None:
    """Keep the rest of the record, change the members (a node left)."""
    write(path, read(path).model_copy(update={"members": tuple(members)}))


def of(nodes: Sequence[Node], hosts: dict[str, str] | None = None) -> list[Member]:
    hosts = hosts or {}
    return [Member(name=n.name, instance_id=n.instance_id, roles=n.roles, host=hosts.get(n.name, ""))
            for n in nodes]


def joining(members: Sequence[Member], nodes: Sequence[Node]) -> list[Node]:
    """Nodes that are not members yet, or whose instance is not the one that joined (made again since)."""
    joined = {m.name: m.instance_id for m in members}
    return [n for n in nodes if joined.get(n.name) != n.instance_id]


def leaving(members: Sequence[Member], wanted: Sequence[str]) -> list[Member]:
    """Members the site file no longer has."""
    keep = set(wanted)
    return [m for m in members if m.name not in keep]


def first_control_plane(members: Sequence[Member]) -> Member | None:
    return next((m for m in members if m.has(Role.CONTROL_PLANE)), None)
