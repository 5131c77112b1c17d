"""``kprov replace``'s own stages: a dead node leaves the cluster without being contacted, and afterwards etcd must
have its full member count, every member healthy."""

from __future__ import annotations

from kprov import etcd
from kprov import members as members_mod
from kprov.engine.stage import Session, Stage
from kprov.errors import InfrastructureError
from kprov.site.types import Role
from kprov.stages.remove import remove_nodes
from kprov.tools.ansible import PlaybookResult


class RemoveDead(Stage):
    """``remove-node.yml -e node=N -e reset_nodes=false -e allow_ungraceful_removal=true``: Kubespray removes the
    node (and its etcd member, through a remaining member) without contacting it."""

    name = "remove"

    def __init__(self, node: str) -> None:
        self.node = node

    def skip_reason(self, session: Session) -> str | None:
        joined = {m.name for m in members_mod.load(session.workdir.members_file)}
        return None if self.node in joined else f"{self.node} is not a cluster member (removed already)"

    def describe(self, session: Session) -> str:
        return f"Kubespray remove-node.yml for {self.node} (not contacted: reset_nodes=false)"

    def run(self, session: Session) -> PlaybookResult:
        result = remove_nodes(session, self.name, {"node": self.node, "reset_nodes": False,
                                                   "allow_ungraceful_removal": True, "skip_confirmation": True})
        session.state.forget("bootstrap", "verify")
        return result

    def done_message(self, result: PlaybookResult) -> str:
        return f"{self.node} removed from the cluster"


class EtcdHealth(Stage):
    """etcd has a member for every etcd node of the site, and all of them are healthy."""

    name = "etcd-health"

    def skip_reason(self, session: Session) -> str | None:
        return None if any(n.has(Role.ETCD) for n in session.nodes) else ""

    def describe(self, session: Session) -> str:
        return "etcd member count and health"

    def run(self, session: Session) -> list[str]:
        names, report = etcd.health(session)
        want = [n.name for n in session.nodes if n.has(Role.ETCD)]
        healthy = [line for line in report.splitlines() if " is healthy" in line]
        unhealthy = [line for line in report.splitlines() if " is unhealthy" in line]
        if len(healthy) != len(want):
            unhealthy.append(f"{len(healthy)} of {len(want)} endpoints report healthy")
        if len(names) != len(want) or "" in names or unhealthy:
            raise InfrastructureError(f"etcd has members {', '.join(n or '(not started)' for n in names)} for "
                                      f"{len(want)} etcd nodes; {'; '.join(unhealthy) or 'all healthy'}")
        return names

    def done_message(self, result: list[str]) -> str:
        return f"{len(result)} members, all healthy"
