"""``inventory``: the Kubespray inventory from Terraform's nodes and the site file."""

from __future__ import annotations

from pathlib import Path

from kprov import inventory
from kprov.engine.fingerprint import fingerprint
from kprov.engine.stage import Session, Stage


def node_data(session: Session) -> list[dict[str, object]]:
    return [n.model_dump(mode="json") for n in session.nodes]


class Inventory(Stage):
    name = "inventory"

    def describe(self, session: Session) -> str:
        return "Kubespray inventory from Terraform's outputs"

    def fingerprint(self, session: Session) -> str:
        site = session.site
        return fingerprint(node_data(session), site.kubernetes.model_dump(mode="json"), site.ssh.port,
                           site.metadata.model_dump(mode="json"), site.network.model_dump(mode="json"))

    def outputs(self, session: Session) -> list[Path]:
        return [session.workdir.inventory / "hosts.yaml"]

    def run(self, session: Session) -> Path:
        return inventory.write(session.workdir.inventory, session.site, session.nodes)
