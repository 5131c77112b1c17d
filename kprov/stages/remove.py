"""``remove``: members the site file no longer has are drained by kprov (:mod:`kprov.drain`: the eviction API,
which waits on PodDisruptionBudgets and names the one that blocks) and leave the cluster through Kubespray's
``remove-node.yml`` (its own drain, the etcd member removed, the node reset) before Terraform destroys their
machines. Runs with an inventory of the nodes as Terraform last made them, which still lists them."""

from __future__ import annotations

from typing import Any

from kprov import drain, impact, inventory
from kprov import members as members_mod
from kprov.engine.stage import Session, Stage
from kprov.engine.workdir import private_dir
from kprov.impact import Step
from kprov.site.secrets import referenced_env
from kprov.tools import ansible
from kprov.tools.ansible import PlaybookResult


def removal(session: Session) -> Step | None:
    return next((s for s in impact.of_site(session).steps if s.when == "before"), None)


def remove_nodes(session: Session, stage: str, extravars: dict[str, Any]) -> PlaybookResult:
    """``remove-node.yml`` with ``extravars`` (``node``: the names, comma-separated), then those nodes are no
    longer members. Runs on an inventory of the nodes as they are, the leaving ones included, written for this
    run: the workdir's may already be the site's new one (``kprov render``), and remove-node.yml must find them."""
    wd = session.workdir
    members = members_mod.load(wd.members_file)
    nodes = session.known_nodes()
    hosts_file = inventory.write(private_dir(session.run_dir / "inventory"), session.site, nodes,
                                 [m.name for m in members])
    result = ansible.run_playbook(
        session.kubespray(), "remove-node.yml", inventory_file=hosts_file, ssh_config=session.ssh_config(nodes),
        run_dir=session.run_dir, events=session.events, extravars={**drain.kubespray_vars(session), **extravars},
        fact_cache=wd.fact_cache, stage=stage, secret_env=referenced_env(session.site))
    result.raise_for_failure()
    gone = set(str(extravars["node"]).split(","))
    members_mod.save(wd.members_file, [m for m in members if m.name not in gone])
    return result


class Remove(Stage):
    name = "remove"

    def skip_reason(self, session: Session) -> str | None:
        return None if removal(session) is not None else ""

    def describe(self, session: Session) -> str:
        step = removal(session)
        return f"Kubespray remove-node.yml for {step.extravars['node'] if step else ''}"

    def run(self, session: Session) -> PlaybookResult:
        step = removal(session)
        assert step is not None  # skip_reason said so
        drain.drain(session, self.name, str(step.extravars["node"]).split(","))
        result = remove_nodes(session, self.name, step.extravars)
        session.state.forget("verify")
        return result

    def done_message(self, result: PlaybookResult) -> str:
        return "removed from the cluster; Terraform destroys their machines next"
