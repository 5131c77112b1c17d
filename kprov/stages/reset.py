"""``reset``: Kubespray's ``reset.yml`` on every node (unattended), before the machines are destroyed."""

from __future__ import annotations

from kprov import members as members_mod
from kprov import nodes as nodes_mod
from kprov.engine.stage import Session, Stage
from kprov.site.secrets import referenced_env
from kprov.tools import ansible
from kprov.tools.ansible import PlaybookResult


class Reset(Stage):
    name = "reset"

    def skip_reason(self, session: Session) -> str | None:
        if session.options.get("skip_reset"):
            return ""
        session.nodes = nodes_mod.load(session.workdir.nodes_file)
        # a member record says a playbook joined nodes, even when the bootstrap stage must run again (a revert)
        bootstrapped = (session.state.finished("bootstrap") is not None
                        or bool(members_mod.load(session.workdir.members_file)))
        if not (session.nodes and (session.workdir.inventory / "hosts.yaml").is_file() and bootstrapped):
            return "nothing was bootstrapped"
        return None

    def describe(self, session: Session) -> str:
        return "Kubespray reset.yml"

    def run(self, session: Session) -> PlaybookResult:
        result = ansible.run_playbook(
            session.kubespray(), "reset.yml", inventory_file=session.workdir.inventory / "hosts.yaml",
            ssh_config=session.ssh_config(session.nodes), run_dir=session.run_dir, events=session.events,
            extravars={"reset_confirmation": "yes"}, fact_cache=session.workdir.fact_cache, stage=self.name,
            secret_env=referenced_env(session.site))
        result.raise_for_failure()
        session.state.forget("bootstrap", "kubeconfig", "verify")
        session.workdir.members_file.unlink(missing_ok=True)  # reset: no node is in a cluster any more
        return result
