"""``inventory``: the Kubespray inventory from Terraform's nodes and the site file."""

from __future__ import annotations

import json
from pathlib import Path

from kprov import inventory, members
from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage


def node_data(session: Session) -> list[dict[str, object]]:
    return [n.model_dump(mode="json") for n in session.nodes]


def established(session: Session) -> list[str]:
    """The cluster's members in the order they joined: they keep their places in the inventory."""
    return [m.name for m in members.load(session.workdir.members_file)]


class Inventory(Stage):
    name = "inventory"

    def describe(self, session: Session) -> str:
        return "Kubespray inventory from Terraform's outputs"

    def fingerprint(self, session: Session) -> str:
        """What the inventory would hold: the same content is the same inventory, whatever led to it."""
        site = session.site
        content = {"hosts": inventory.hosts(session.nodes, site.ssh.port, established(session)),
                   "all": inventory.group_vars_all(site), "k8s_cluster": inventory.group_vars_k8s_cluster(site)}
        return fingerprint(json.dumps(content, sort_keys=True, default=str))

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.inventory / "hosts.yaml"]

    def run(self, session: Session) -> Path:
        return inventory.write(session.workdir.inventory, session.site, session.nodes, established(session))
