"""``inventory``: the Kubespray inventory from Terraform's nodes and the site file."""

from __future__ import annotations

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
        site = session.site
        return fingerprint(node_data(session), established(session), site.kubernetes.model_dump(mode="json"),
                           site.ssh.port,
                           site.metadata.model_dump(mode="json"), site.network.model_dump(mode="json"))

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.inventory / "hosts.yaml"]

    def run(self, session: Session) -> Path:
        return inventory.write(session.workdir.inventory, session.site, session.nodes, established(session))
