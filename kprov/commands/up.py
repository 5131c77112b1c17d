"""``kprov up``: remove (members the site file dropped) → infra → inventory → ssh → preflight → bootstrap →
kubeconfig → verify, after the stages the site's targets need first (bare metal: its PXE servers). A change
kprov refuses (:mod:`kprov.impact`: the first control plane leaving, etcd quorum) stops it before anything."""

from __future__ import annotations

from kprov import impact
from kprov import members as members_mod
from kprov.commands.base import Command, renderable
from kprov.engine.fastpath import converged_key
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session, Stage
from kprov.stages.bootstrap import Bootstrap
from kprov.stages.infra import Infra
from kprov.stages.inventory import Inventory
from kprov.stages.kubeconfig import Kubeconfig
from kprov.stages.preflight import Preflight
from kprov.stages.remove import Remove
from kprov.stages.ssh import Ssh
from kprov.stages.verify import Verify


def before_infra(session: Session) -> list[Stage]:
    """The stages the site's targets need before Terraform (bare metal: its PXE servers), each once."""
    before: dict[str, Stage] = {}
    for target in session.targets_used():
        for stage in target.stages_before_infra(session.loaded):
            before.setdefault(stage.name, stage)
    return list(before.values())


def machines(session: Session) -> list[Stage]:
    """The Terraform part of `up` (`kprov apply` runs it from a plan file)."""
    return [*before_infra(session), Remove(), Infra(), Inventory()]


def kubernetes(session: Session) -> list[Stage]:
    """The Kubespray part of `up` (`kprov bootstrap` runs it on its own)."""
    return [Ssh(), Preflight(), Bootstrap(), Kubeconfig()]


def stages(session: Session) -> list[Stage]:
    return [*machines(session), *kubernetes(session), Verify()]


def acceptable(session: Session) -> object:
    """Renderable, and a change kprov does not refuse (:mod:`kprov.impact`), before anything is written."""
    context = renderable(session)
    impact.refuse(impact.of_site(session))
    return context


UP = Command("up", stages, requires=acceptable)


def built(session: Session) -> object:
    """Terraform made the machines (`kprov apply` or `up` ran): else exit 8."""
    from kprov.errors import NotBuilt  # noqa: PLC0415

    context = acceptable(session)
    if session.state.finished("infra") is None:
        raise NotBuilt(f"site {session.loaded.name} has no machines yet: `kprov apply PLAN` (or `kprov up`) first")
    session.nodes = session.known_nodes()
    return context


BOOTSTRAP = Command("bootstrap", kubernetes, requires=built)


def nothing_leaves(session: Session) -> object:
    """Preflight makes missing machines as `up` would, but never removes one (that is `up`'s, after a drain)."""
    from kprov.errors import UsageError  # noqa: PLC0415

    context = acceptable(session)
    leaving = impact.of_site(session).leaving()
    if leaving:
        raise UsageError(f"{', '.join(leaving)} would leave the cluster: `kprov up` (or `scale`) removes them first; "
                         "preflight only checks")
    return context


PREFLIGHT = Command("preflight", lambda session: [*before_infra(session), Infra(), Inventory(), Ssh(),
                                                  Preflight(always=True)], requires=nothing_leaves)


def finish(session: Session, outcomes: list[StageOutcome]) -> list[StageOutcome]:
    """Every stage succeeded or was unchanged: record the key of all inputs for the no-op fast path."""
    ks = session.kubespray()
    session.state.record_converged(converged_key(session.loaded.source, session.workdir.root, ks.root),
                                   session.loaded.source, ks.root,
                                   [o.stage for o in outcomes if o.status != "not-applicable"],
                                   [p for o in outcomes for p in o.outputs])
    kubeconfig = session.workdir.kubeconfig
    session.events.emit("up", "result", f"site is up; kubeconfig: {kubeconfig}", kubeconfig=str(kubeconfig))
    return outcomes


def scalable(session: Session) -> object:
    """``kprov scale``: the site is running and the edit adds or removes nodes, and nothing in it is refused."""
    from kprov.errors import NotBuilt, UsageError  # noqa: PLC0415

    context = renderable(session)
    assessed = impact.of_site(session)
    if not members_mod.load(session.workdir.members_file):
        raise NotBuilt(f"site {session.loaded.name} was never bootstrapped: `kprov up` makes it first")
    impact.refuse(assessed)
    if not assessed.joining() and not assessed.leaving():
        raise UsageError(f"site {session.loaded.name}: no node joins or leaves, nothing to scale "
                         "(`kprov up` applies other edits)")
    return context


def scale_question(session: Session) -> str:
    assessed = impact.of_site(session)
    parts = []
    if assessed.joining():
        parts.append(f"join {', '.join(assessed.joining())}")
    if assessed.leaving():
        parts.append(f"remove {', '.join(assessed.leaving())} (drained and reset by remove-node.yml, then their "
                     "machines destroyed)")
    return f"Scale site {session.loaded.name}: {'; '.join(parts)}?"


SCALE = Command("scale", stages, requires=scalable, confirm=scale_question, refusal="scale")
