"""``kprov up``: infra → inventory → ssh → preflight → bootstrap → kubeconfig → verify, after the stages the
site's targets need first (bare metal: its PXE servers)."""

from __future__ import annotations

from kprov.commands.base import Command, renderable
from kprov.engine.fastpath import converged_key
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session, Stage
from kprov.stages.bootstrap import Bootstrap
from kprov.stages.infra import Infra
from kprov.stages.inventory import Inventory
from kprov.stages.kubeconfig import Kubeconfig
from kprov.stages.preflight import Preflight
from kprov.stages.ssh import Ssh
from kprov.stages.verify import Verify


def stages(session: Session) -> list[Stage]:
    before: dict[str, Stage] = {}
    for target in session.targets_used():
        for stage in target.stages_before_infra(session.loaded):
            before.setdefault(stage.name, stage)
    return [*before.values(), Infra(), Inventory(), Ssh(), Preflight(), Bootstrap(), Kubeconfig(), Verify()]


UP = Command("up", stages, requires=renderable)


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
