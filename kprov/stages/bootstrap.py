"""``bootstrap``: Kubespray's ``cluster.yml`` through ansible-runner, with the site's inventory."""

from __future__ import annotations

from pathlib import Path

from kprov.engine.fingerprint import file_digest, fingerprint
from kprov.engine.stage import Session, Stage
from kprov.site.secrets import referenced_env
from kprov.tools import ansible
from kprov.tools.ansible import PlaybookResult


def bootstrap_fingerprint(session: Session) -> str:
    inv = session.workdir.inventory
    return fingerprint(file_digest(inv / "hosts.yaml", inv / "group_vars"), session.kubespray().commit(),
                       "cluster.yml")


class Bootstrap(Stage):
    name = "bootstrap"
    playbook = "cluster.yml"

    def describe(self, session: Session) -> str:
        return f"Kubespray {self.playbook} ({session.kubespray().label})"

    def fingerprint(self, session: Session) -> str:
        return bootstrap_fingerprint(session)

    def outputs(self, session: Session) -> list[Path]:
        """Kubespray's admin.conf is what the kubeconfig stage takes: without it, cluster.yml runs again."""
        return [session.workdir.inventory / "artifacts" / "admin.conf"]

    def run(self, session: Session) -> PlaybookResult:
        result = ansible.run_playbook(
            session.kubespray(), self.playbook, inventory_file=session.workdir.inventory / "hosts.yaml",
            ssh_config=session.ssh_config(session.nodes), run_dir=session.run_dir, events=session.events,
            fact_cache=session.workdir.fact_cache, secret_env=referenced_env(session.site))
        result.raise_for_failure()
        return result
