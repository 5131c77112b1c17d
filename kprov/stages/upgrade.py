"""``upgrade``: the cluster from the Kubernetes version it runs to the site file's, one minor release at a time
(:mod:`kprov.upgrade`). Before each step an etcd snapshot (:mod:`kprov.etcd`) and, where the target has them, a VM
snapshot of every node; then Kubespray's ``upgrade-cluster.yml -e kube_version=STEP``; then the post-install
checks with STEP as the version every kubelet must report, so a step that changed nothing fails. The member
record keeps the version reached, so an interrupted upgrade resumes at the step it was on."""

from __future__ import annotations

from kprov import drain, etcd, upgrade
from kprov import members as members_mod
from kprov import snapshots as snapshot_record
from kprov.engine.stage import Session, Stage
from kprov.errors import VerifyFailed
from kprov.site.secrets import referenced_env
from kprov.stages.bootstrap import bootstrap_fingerprint, settings_digest
from kprov.stages.checks import require, run_suite
from kprov.stages.snapshot import SnapshotChange, capable_nodes
from kprov.tools import ansible


def steps(session: Session) -> list[str]:
    record = members_mod.read(session.workdir.members_file)
    return upgrade.path(record.version, session.site.kubernetes.version, session.kubespray().supported_versions())


class Upgrade(Stage):
    name = "upgrade"

    def __init__(self, *, vm_snapshots: bool = True) -> None:
        self.vm_snapshots = vm_snapshots

    def describe(self, session: Session) -> str:
        record = members_mod.read(session.workdir.members_file)
        return f"Kubernetes {record.version} → {' → '.join(steps(session))}"

    def run(self, session: Session) -> list[str]:
        wd = session.workdir
        done = []
        path = steps(session)
        if path:
            self._check_budgets(session)
        for step in path:
            current = members_mod.read(wd.members_file).version
            etcd.take(session, f"before the upgrade to {step}", current)
            name = f"pre-{step}"
            known = {s.name for s in snapshot_record.load(wd.snapshots_file)}
            if self.vm_snapshots and capable_nodes(session) and name not in known:
                SnapshotChange("create", name).run(session)
                session.events.emit(self.name, "info", f"VM snapshot {name} of every node")
            session.events.emit(self.name, "info", f"upgrade-cluster.yml -e kube_version={step}",
                                playbook="upgrade-cluster.yml", version=step)
            result = ansible.run_playbook(
                session.kubespray(), "upgrade-cluster.yml", inventory_file=wd.inventory / "hosts.yaml",
                ssh_config=session.ssh_config(session.nodes), run_dir=session.run_dir, events=session.events,
                extravars={"kube_version": step, "serial": session.site.kubernetes.upgrade_batch,
                           **drain.kubespray_vars(session)}, fact_cache=wd.fact_cache, stage=self.name,
                secret_env=referenced_env(session.site))
            result.raise_for_failure()
            checked = run_suite(session, suite="post-install", stage=self.name, junit=None, version=step)
            require(checked, VerifyFailed, f"after the upgrade to {step}")
            members_mod.write(wd.members_file, members_mod.read(wd.members_file).model_copy(update={"version": step}))
            done.append(step)
        # the cluster is what cluster.yml with the site file would make: the next `up` has nothing to do
        record = members_mod.read(wd.members_file)
        members_mod.write(wd.members_file, record.model_copy(update={"settings": settings_digest(session)}))
        session.state.record("bootstrap", bootstrap_fingerprint(session))
        return done

    def _check_budgets(self, session: Session) -> None:
        """Every node is drained on the way: a budget that allows no disruption now would stall the upgrade
        half-way, so it is refused before the first snapshot."""
        found = drain.blockers(session, [n.name for n in session.nodes])
        if found.budgets:
            named = "; ".join(str(b) for b in found.budgets)
            raise drain.DrainBlocked(
                f"{named}: the upgrade drains every node. Let the budget allow a disruption (more replicas, or a "
                "looser budget) and run the upgrade again; nothing was changed")
        for warning in found.warnings():
            session.events.emit(self.name, "warning", warning)

    def done_message(self, result: list[str]) -> str:
        return f"now at {result[-1]}" if result else "already at the site's version"
