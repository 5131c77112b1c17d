"""``kprov apply PLAN``: the Terraform part of a plan made by ``kprov plan SITE --out PLAN``, exactly as reviewed
(:mod:`kprov.planfile`): refused when the site file, the rendered modules, the Kubespray tree or the Terraform
state changed since; then remove (members leaving) → infra → inventory, with Terraform's new change set checked
against the recorded one before anything is applied. The Kubespray steps the plan lists are kept in the workdir
for ``kprov bootstrap``, which refuses to run others."""

from __future__ import annotations

import json
from pathlib import Path

from kprov import impact, planfile
from kprov.commands.base import Command
from kprov.commands.up import acceptable, machines
from kprov.engine.runner import StageOutcome
from kprov.engine.stage import Session
from kprov.engine.workdir import write_atomic
from kprov.stages.review import Review


def for_this_site(session: Session) -> object:
    """The plan is this site's, and the change is one kprov accepts (checked before the lock: nothing written)."""
    doc: planfile.PlanDocument = session.options["plan"]
    path = Path(str(session.options["plan_file"]))
    if doc.site != session.loaded.name:
        raise planfile.PlanFileError(f"{path} is a plan for site {doc.site}, not {session.loaded.name}")
    return acceptable(session)


APPLY = Command("apply", lambda session: [Review(), *machines(session)], requires=for_this_site)


def finish(session: Session, outcomes: list[StageOutcome]) -> list[StageOutcome]:
    """Terraform applied the reviewed change: keep the Kubespray steps the plan listed for `kprov bootstrap`."""
    doc: planfile.PlanDocument = session.options["plan"]
    steps = [s for s in doc.kubespray_steps if s.get("when") == "after"]
    write_atomic(session.workdir.root / planfile.REVIEWED_STEPS, json.dumps(steps) + "\n")
    listed = impact.playbook_lines((s["playbook"], s["limit"]) for s in steps)
    session.events.emit("apply", "result", f"applied; `kprov bootstrap` runs {listed}",
                        kubespray_steps=steps)
    return outcomes
