"""``infra``: render the Terraform root module, then terraform init, plan and apply; read back the nodes."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kprov import impact, planfile, render, snapshots
from kprov import nodes as nodes_mod
from kprov.engine.fingerprint import file_digest
from kprov.engine.stage import Session, Stage
from kprov.errors import InfrastructureError
from kprov.nodes import Node
from kprov.tools import ssh
from kprov.tools.terraform import ChangeSummary, PlanResult, transient_plan


@dataclass(frozen=True)
class InfraResult:
    nodes: tuple[Node, ...]
    applied: ChangeSummary | None
    """What the apply changed; None when the plan had no changes."""


def remade_addresses(before: Sequence[Node], after: Sequence[Node]) -> list[str]:
    """Addresses of nodes Terraform made again (same name, new instance_id): their host keys are new."""
    old = {n.name: n for n in before}
    remade = [n for n in after if n.name in old and n.instance_id != old[n.name].instance_id]
    return [a for n in remade for a in (old[n.name].access_ip, n.access_ip)]


def terraform_inputs(session: Session) -> str:
    tf = session.workdir.terraform
    return file_digest(tf / "main.tf", tf / render.TFVARS, tf / "modules")


def remade_in(plan: PlanResult, names: Sequence[str]) -> set[str]:
    """Nodes whose machine the plan replaces (a resource keyed by the node's name, action ``replace``)."""
    known = set(names)
    out = set()
    for change in plan.planned:
        key = re.search(r'\["([^"]+)"\]$', change.address)
        if change.action == "replace" and key and key.group(1) in known:
            out.add(key.group(1))
    return out


def forget_snapshots(session: Session, before: Sequence[Node]) -> None:
    """A machine made again lost its snapshots with the old one: drop it from the snapshot record (the next
    `up` removes the stale snapshot resources from Terraform's state)."""
    old = {n.name: n.instance_id for n in before}
    remade = {n.name for n in session.nodes if n.name in old and n.instance_id != old[n.name]}
    kept = snapshots.load(session.workdir.snapshots_file)
    lost = [(s.name, node) for s in kept for node in s.nodes if node in remade]
    if not lost:
        return
    pruned = [s.model_copy(update={"nodes": tuple(n for n in s.nodes if n not in remade)}) for s in kept]
    snapshots.save(session.workdir.snapshots_file, [s for s in pruned if s.nodes])
    session.events.emit("infra", "warning", "snapshots went with the machines made again: "
                        + ", ".join(f"{name} of {node}" for name, node in lost))


def check_ready(session: Session) -> None:
    """Every provider block's target is ready for Terraform (:meth:`~kprov.targets.base.Target.ready`)."""
    from kprov.doctor import blocking  # noqa: PLC0415
    from kprov.targets import target_for  # noqa: PLC0415

    problems = [f for name, provider in session.site.providers.items()
                for f in blocking(target_for(provider.type).ready(session.loaded, name, provider))]
    if problems:
        raise InfrastructureError("not ready for Terraform: " + "; ".join(
            f"{f.check}: {f.message} (fix: {f.fix})" for f in problems))


class Infra(Stage):
    name = "infra"

    def describe(self, session: Session) -> str:
        return "terraform init, plan, apply"

    def prepare(self, session: Session) -> None:
        render.render_terraform(session.loaded, session.workdir)

    def fingerprint(self, session: Session) -> str | None:
        if session.options.get("replace"):
            return None  # `kprov replace`: always, and its record is made in run()
        return terraform_inputs(session)

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.nodes_file]

    def restore(self, session: Session) -> None:
        session.nodes = session.known_nodes()

    def run(self, session: Session) -> InfraResult:
        check_ready(session)
        tf = session.terraform_initialized()
        applied = None
        node = session.options.get("replace")
        again = [a for a in tf.state_list() if a.endswith(f'["{node}"]')] if node else []
        with transient_plan(session.run_dir) as plan_file:
            plan = tf.plan(out=plan_file, replace=again)
            impact.refuse(impact.of_site(session, remade_in(plan, session.spec_order())))
            reviewed = session.options.get("planned_changes")
            if reviewed is not None:  # `kprov apply PLAN`: exactly the reviewed change set, or nothing
                differ = planfile.differences(reviewed, planfile.changes_of(tf.show_plan(plan_file)
                                                                            if plan.changes else {}))
                if differ:
                    raise planfile.PlanFileError(
                        f"Terraform now plans otherwise than the reviewed plan for {', '.join(differ[:5])}"
                        f"{' and more' if len(differ) > 5 else ''}; nothing applied: make a new plan")
            if plan.changes:
                applied = tf.apply(plan_file).summary
                session.events.emit(self.name, "info", f"applied: {applied}")
        before = nodes_mod.load(session.workdir.nodes_file)
        session.nodes = nodes_mod.from_output(tf.output().get("nodes"), session.spec_order())
        ssh.forget_host_keys(session.workdir.known_hosts, remade_addresses(before, session.nodes))
        forget_snapshots(session, before)
        nodes_mod.save(session.workdir.nodes_file, session.nodes)
        if node:
            session.state.record(self.name, terraform_inputs(session))
        return InfraResult(tuple(session.nodes), applied)
