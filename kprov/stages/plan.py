"""``plan``: what Terraform would change, and what that does to the running cluster node by node
(:mod:`kprov.impact`): who joins through which playbook, who leaves, whose machine is made again and which
attribute forces it, etcd and control-plane counts before and after, and what kprov would refuse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kprov import drain, impact, planfile, render
from kprov.engine.stage import Session, Stage
from kprov.errors import KprovError
from kprov.impact import Step
from kprov.site.secrets import secret_refs
from kprov.stages.bootstrap import settings_change
from kprov.stages.infra import remade_in
from kprov.tools.terraform import PlanResult, transient_plan


def made(session: Session, plan_path: Path) -> planfile.Made:
    """What a plan made now is made from (see :mod:`kprov.planfile`)."""
    lineage, serial = session.terraform_initialized().state_identity()
    return planfile.Made(
        site_file=planfile.relative_site(plan_path, session.loaded.source),
        site_digest=planfile.file_digest(session.loaded.source),
        terraform_tree=planfile.tree_digest(session.workdir.terraform), kubespray=session.kubespray().commit(),
        state_lineage=lineage, state_serial=serial)


def resolved_secrets(session: Session) -> list[str]:
    """The values of the site's secrets that can be read here (to keep them out of a plan file)."""
    values = []
    for ref in secret_refs(session.site):
        try:
            values.append(ref.resolve(session.loaded.base_dir))
        except KprovError:
            continue
    return values


class Plan(Stage):
    name = "plan"

    def describe(self, session: Session) -> str:
        return "terraform plan"

    def run(self, session: Session) -> PlanResult:
        render.render_terraform(session.loaded, session.workdir)
        tf = session.terraform_initialized()
        with transient_plan(session.workdir.terraform) as plan_file:
            result = tf.plan(out=plan_file)
            show = tf.show_plan(plan_file) if result.changes else {}
            reasons = tf.replace_reasons(show)
        changes = planfile.changes_of(show)
        ev = session.events
        rows = [[c.address, c.action, ", ".join(reasons.get(c.address, []))]
                for c in sorted(result.planned, key=lambda c: c.address)]  # one order, whatever Terraform's
        if rows:
            ev.emit(self.name, "table", "", title="terraform", columns=["resource", "action", "forced by"], rows=rows)
        ev.emit(self.name, "info", f"terraform: {result.summary}" if result.changes else "terraform: no changes",
                changes=result.changes, add=result.summary.add, change=result.summary.change,
                remove=result.summary.remove)
        remade = remade_in(result, session.spec_order())
        assessed = impact.of_site(session, remade)
        settings = self._settings(session)
        if settings:  # cluster.yml on every node, as bootstrap will run it, after the removals
            assessed = dataclasses.replace(assessed, steps=(
                *(s for s in assessed.steps if s.when == "before"), Step("cluster.yml")))
            ev.emit(self.name, "info", f"settings for every node changed: {', '.join(settings)}")
        forced = {n: sorted({r for a, rs in reasons.items() if f'["{n}"]' in a for r in rs}) for n in remade}
        ev.emit(self.name, "table", "", title="nodes", columns=["node", "roles", "action", "why"],
                rows=[[c.node, ",".join(c.roles), c.action,
                       c.why + (f" ({', '.join(forced[c.node])})" if forced.get(c.node) else "")]
                      for c in assessed.nodes])
        for step in assessed.steps:
            extra = "".join(f" -e {k}={v}" for k, v in step.extravars.items())
            ev.emit(self.name, "info", f"kubespray {'before' if step.when == 'before' else 'after'} Terraform: "
                    f"{impact.playbook_line(step.playbook, step.limit)}{extra}", playbook=step.playbook)
        if not assessed.steps:
            ev.emit(self.name, "info", "kubespray: nothing to run")
        for refusal in assessed.refusals:
            ev.emit(self.name, "warning", f"up would refuse: {refusal}")
        budgets = drain.blockers(session, [c.node for c in assessed.nodes if c.action == "leave"])
        for warning in budgets.warnings():
            ev.emit(self.name, "warning", warning)
        document = {**assessed.document(), "forced_by": forced, "drain": budgets.as_dict(), "settings": settings}
        ev.emit(self.name, "impact", "", impact=document)
        out = session.options.get("out")
        if out is not None:
            path = Path(str(out))
            planfile.write(path, planfile.PlanDocument(
                format=planfile.FORMAT, site=session.loaded.name, made=made(session, path), changes=changes,
                kubespray_steps=document["steps"], impact=document), resolved_secrets(session))
            ev.emit(self.name, "info", f"plan written to {path}: `kprov apply {path}` applies exactly it",
                    plan_file=str(path))
        return result

    def _settings(self, session: Session) -> list[str]:
        try:
            return settings_change(session)
        except KprovError as e:  # no Kubespray to compare with yet: say so rather than fail the plan
            session.events.emit(self.name, "warning", f"settings for every node not compared: {e}")
            return []
