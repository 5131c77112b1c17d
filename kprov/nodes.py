"""Nodes as Terraform made them: the ``nodes`` output every target module returns, read back and checked.

Reading the output through a schema turns "Terraform output drift" (a module returning another shape) into a
clear error instead of a KeyError three stages later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError

from kprov.engine.workdir import write_atomic
from kprov.errors import InfrastructureError
from kprov.site.types import NodeSpec, Role
from kprov.targets.contract import NodeOutput


class Node(NodeOutput):
    """A node of the ``nodes`` output: the contract's :class:`~kprov.targets.contract.NodeOutput`, read leniently
    (fields a module adds are ignored; a node known only from the site file has no ``instance_id`` yet)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    labels: dict[str, str] = {}
    instance_id: str = ""

    def has(self, role: Role) -> bool:
        return role in self.roles

    @classmethod
    def from_spec(cls, spec: NodeSpec) -> Node:
        return cls(name=spec.name, pool=spec.pool, roles=spec.roles, ip=spec.ip, access_ip=spec.access_ip,
                   ssh_user=spec.ssh_user, labels=spec.labels)


def from_output(value: Any, order: Sequence[str] = ()) -> list[Node]:
    """Nodes from ``terraform output -json``'s ``nodes`` value, in site-file order (``order``) first."""
    if not isinstance(value, dict):
        raise InfrastructureError("Terraform output 'nodes' is not a map of nodes: the module broke its contract")
    try:
        nodes = [Node.model_validate(v) for v in value.values()]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InfrastructureError(f"Terraform output 'nodes' has the wrong shape at {where}: {first['msg']}") from None
    return sort_nodes(nodes, order)


def sort_nodes(nodes: Iterable[Node], order: Sequence[str]) -> list[Node]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(nodes, key=lambda n: (rank.get(n.name, len(rank)), n.name))


def save(path: Path, nodes: Sequence[Node]) -> None:
    write_atomic(path, json.dumps([n.model_dump(mode="json") for n in nodes], indent=2))


def load(path: Path) -> list[Node]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    return [Node.model_validate(d) for d in data]
