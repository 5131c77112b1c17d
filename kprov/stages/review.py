"""``review``: before `kprov apply PLAN` changes anything, nothing the plan was made from changed since
(:mod:`kprov.planfile`)."""

from __future__ import annotations

from pathlib import Path

from kprov import planfile, render
from kprov.engine.stage import Session, Stage
from kprov.stages.plan import made


class Review(Stage):
    """Nothing the plan was made from changed since (under the site lock: the render it needs writes the
    workdir)."""

    name = "review"

    def describe(self, session: Session) -> str:
        return f"what {session.options['plan_file']} was made from, unchanged"

    def run(self, session: Session) -> None:
        doc: planfile.PlanDocument = session.options["plan"]
        path = Path(str(session.options["plan_file"]))
        render.render_terraform(session.loaded, session.workdir)
        changed = planfile.stale(doc.made, made(session, path))
        if changed:
            raise planfile.PlanFileError(f"{path} is stale: {'; '.join(changed)} changed since the plan was made; "
                                         "make a new plan and review it")

    def done_message(self, result: None) -> str:
        return "the plan is current"
