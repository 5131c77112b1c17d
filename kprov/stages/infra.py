"""``infra``: render the Terraform root module, then terraform init, plan and apply; read back the nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kprov import nodes as nodes_mod
from kprov import render
from kprov.engine.fingerprint import file_digest
from kprov.engine.stage import Session, Stage
from kprov.errors import InfrastructureError
from kprov.nodes import Node
from kprov.tools import ssh
from kprov.tools.terraform import ChangeSummary


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

    def fingerprint(self, session: Session) -> str:
        return terraform_inputs(session)

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.nodes_file]

    def restore(self, session: Session) -> None:
        session.nodes = session.known_nodes()

    def run(self, session: Session) -> InfraResult:
        check_ready(session)
        tf = session.terraform_initialized()
        plan = tf.plan(out=session.run_dir / "tfplan")
        applied = None
        if plan.changes:
            applied = tf.apply(session.run_dir / "tfplan").summary
            session.events.emit(self.name, "info", f"applied: {applied}")
        before = nodes_mod.load(session.workdir.nodes_file)
        session.nodes = nodes_mod.from_output(tf.output().get("nodes"), session.spec_order())
        ssh.forget_host_keys(session.workdir.known_hosts, remade_addresses(before, session.nodes))
        nodes_mod.save(session.workdir.nodes_file, session.nodes)
        return InfraResult(tuple(session.nodes), applied)
