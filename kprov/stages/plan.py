"""``plan``: what Terraform would change, and which Kubespray playbook would run next."""

from __future__ import annotations

from kprov import render
from kprov.engine.stage import Session, Stage
from kprov.tools.terraform import PlanResult


def next_playbook(session: Session, tf_plan: PlanResult) -> tuple[str | None, str]:
    if session.state.finished("bootstrap") is None:
        return "cluster.yml", "the site has not been bootstrapped"
    if tf_plan.changes:
        return "cluster.yml", "nodes change"
    return None, "the cluster matches the site file as far as kprov recorded"


class Plan(Stage):
    name = "plan"

    def describe(self, session: Session) -> str:
        return "terraform plan"

    def run(self, session: Session) -> PlanResult:
        render.render_terraform(session.loaded, session.workdir)
        tf = session.terraform_initialized()
        result = tf.plan()
        ev = session.events
        rows = [[c.address, c.action] for c in result.planned]
        if rows:
            ev.emit(self.name, "table", "", title="terraform", columns=["resource", "action"], rows=rows)
        ev.emit(self.name, "info", f"terraform: {result.summary}" if result.changes else "terraform: no changes",
                changes=result.changes, add=result.summary.add, change=result.summary.change,
                remove=result.summary.remove)
        playbook, why = next_playbook(session, result)
        ev.emit(self.name, "info", f"kubespray: {playbook or 'nothing to run'} ({why})", playbook=playbook,
                reason=why)
        return result
