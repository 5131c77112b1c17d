"""Draining nodes before they leave the cluster or are upgraded, with the site's kubeconfig (:mod:`kprov.tools.kube`).

kprov drains a leaving node itself, before Kubespray's ``remove-node.yml`` (which drains again, finding nothing
left), so a PodDisruptionBudget that blocks ends the run with the budget named and nothing removed. When the
cluster's API does not answer from where kprov runs (a bastion-less network, a cluster still coming up), kprov
says so and Kubespray's own drain, run on the first control-plane node, is what drains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kprov.errors import BootstrapError
from kprov.tools import kube

if TYPE_CHECKING:
    from kprov.engine.stage import Session


class DrainBlocked(BootstrapError):
    """A drain ran out of time, usually on a PodDisruptionBudget."""


@dataclass(frozen=True)
class Blockers:
    """The budgets that would block draining ``nodes`` now; ``unanswered`` says why the cluster could not be
    asked (``None``: it answered, or there is nothing to drain)."""

    nodes: tuple[str, ...] = ()
    budgets: tuple[kube.Budget, ...] = ()
    unanswered: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The impact document's ``drain`` (:class:`kprov.impact.DrainDocument`)."""
        return {"nodes": list(self.nodes), "unanswered": self.unanswered,
                "blocking": [b.as_dict() for b in self.budgets]}

    def warnings(self) -> list[str]:
        found = [f"draining {', '.join(self.nodes)} would wait on {b}" for b in self.budgets]
        if self.unanswered:
            found.append(f"PodDisruptionBudgets not checked: {self.unanswered}")
        return found


def kubespray_vars(session: Session) -> dict[str, Any]:
    """The site's drain settings as Kubespray's variables (remove-node.yml and upgrade-cluster.yml drain too)."""
    d = session.site.kubernetes.drain
    return {"drain_timeout": f"{d.timeout}s", "drain_grace_period": d.grace_period}


def blockers(session: Session, nodes: list[str]) -> Blockers:
    """The PodDisruptionBudgets that would block draining ``nodes`` right now, if the cluster answers."""
    if not nodes:
        return Blockers()
    try:
        with kube.connect(session.workdir.kubeconfig) as cluster:
            return Blockers(tuple(nodes), tuple(cluster.blockers(nodes)))
    except (kube.Unreachable, kube.ApiFailed) as e:
        return Blockers(tuple(nodes), unanswered=str(e))


def drain(session: Session, stage: str, nodes: list[str]) -> list[kube.Drained]:
    """Drain ``nodes`` one after the other; raises :class:`DrainBlocked` at the first that does not empty in
    ``kubernetes.drain.timeout`` seconds (it stays cordoned; nothing else is done). Returns nothing drained
    when the cluster does not answer, after saying so."""
    settings = session.site.kubernetes.drain
    done: list[kube.Drained] = []
    ev = session.events
    try:
        with kube.connect(session.workdir.kubeconfig) as cluster:
            for node in nodes:

                def progress(message: str, node: str = node) -> None:
                    ev.emit(stage, "progress", message, host=node)

                progress(f"draining (eviction API, up to {settings.timeout} s)")
                drained = cluster.drain(node, timeout=settings.timeout, grace_period=settings.grace_period,
                                        progress=progress)
                ev.emit(stage, "drained" if drained.ok else "warning", drained.summary(), host=node,
                        evicted=list(drained.evicted), left_alone=list(drained.left_alone),
                        remaining=list(drained.remaining), blocked_by=[b.as_dict() for b in drained.blocked_by])
                if not drained.ok:
                    raise DrainBlocked(
                        f"{drained.summary()}. Nothing was removed and {node} stays cordoned: let the budget "
                        "allow a disruption (more replicas, or a looser budget) or raise kubernetes.drain.timeout, "
                        "then run again")
                done.append(drained)
    except kube.Unreachable as e:
        ev.emit(stage, "warning", f"the cluster's API did not answer ({e}): Kubespray drains "
                f"{', '.join(nodes)} itself, on the first control-plane node, without naming a blocking budget")
    except kube.ApiFailed as e:
        left = [n for n in nodes if n not in {d.node for d in done}]
        raise BootstrapError(f"draining {', '.join(left)}: {e}") from None
    return done
