"""``bootstrap``: Kubespray through ansible-runner, with the site's inventory: ``cluster.yml`` for a new
cluster, and on a running one only what the change needs (:mod:`kprov.impact`): new workers join with
``playbooks/facts.yml`` then ``scale.yml --limit``; new control-plane or etcd nodes, and changes to nodes that
stay or to what applies to all, go through ``cluster.yml``; a change that only removed nodes runs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from kprov import impact, inventory, planfile
from kprov import members as members_mod
from kprov.engine.fingerprint import file_digest, fingerprint
from kprov.engine.stage import Session, Stage
from kprov.engine.workdir import private_dir
from kprov.impact import Step
from kprov.inventory import host_digests
from kprov.site.secrets import referenced_env
from kprov.tools import ansible
from kprov.tools.ansible import PlaybookResult


def bootstrap_fingerprint(session: Session) -> str:
    inv = session.workdir.inventory
    return fingerprint(file_digest(inv / "hosts.yaml", inv / "group_vars"), session.kubespray().commit(),
                       "cluster.yml")


def settings_digest(session: Session, group_vars: Path | None = None) -> str:
    """What the cluster's settings for every node are made of: the inventory's ``group_vars/`` (the workdir's, or
    ``group_vars``) and the Kubespray tree."""
    return fingerprint(file_digest(group_vars or session.workdir.inventory / "group_vars"),
                       session.kubespray().commit())


def settings_change(session: Session) -> list[str]:
    """Why the site file's settings for every node differ from those the cluster was last brought up with (then
    ``cluster.yml`` runs on every node): the variables that changed, a changed Kubespray tree, or nodes reverted to
    a snapshot. Empty when they are the same, or nothing was brought up yet."""
    record = members_mod.read(session.workdir.members_file)
    if not record.members:
        return []
    if record.settings == members_mod.REVERTED:
        return ["nodes were reverted to a snapshot"]
    planned = inventory.write_group_vars(private_dir(session.run_dir / "planned-inventory"), session.site)
    if settings_digest(session, planned) == record.settings:
        return []
    return (inventory.changed_vars(session.workdir.inventory / "group_vars", planned)
            or ["the Kubespray tree (or the inventory written since the last bootstrap)"])


def steps(session: Session, hosts: dict[str, str]) -> list[Step]:
    """What brings the cluster from its recorded members to ``session.nodes``."""
    record = members_mod.read(session.workdir.members_file)
    members = list(record.members)
    remade = {n.name for n in members_mod.joining(members, session.nodes)}
    changed = {m.name for m in members if m.name in hosts and m.host != hosts[m.name]} - remade
    admin_conf = session.workdir.inventory / "artifacts" / "admin.conf"
    if (not members or session.force or record.settings != settings_digest(session) or changed
            or not admin_conf.is_file()):
        return [Step("cluster.yml")]
    assessed = impact.assess(members, [(n.name, n.roles) for n in session.nodes], remade)
    return [s for s in assessed.steps if s.when == "after"]


class Bootstrap(Stage):
    name = "bootstrap"

    def describe(self, session: Session) -> str:
        return f"Kubespray ({session.kubespray().label})"

    def fingerprint(self, session: Session) -> str:
        return bootstrap_fingerprint(session)

    def outputs(self, session: Session) -> list[Path]:
        """Kubespray's admin.conf is what the kubeconfig stage takes: without it, cluster.yml runs again."""
        return [session.workdir.inventory / "artifacts" / "admin.conf"]

    def run(self, session: Session) -> list[PlaybookResult]:
        wd = session.workdir
        hosts = host_digests(yaml.safe_load((wd.inventory / "hosts.yaml").read_text()))
        todo = steps(session, hosts)
        reviewed = wd.root / planfile.REVIEWED_STEPS
        if session.command == "bootstrap" and reviewed.is_file():  # after `kprov apply PLAN`: only what it lists
            want = [(s["playbook"], list(s["limit"])) for s in json.loads(reviewed.read_text())]
            have = [(s.playbook, list(s.limit)) for s in todo]
            if want != have:
                raise planfile.PlanFileError(
                    f"Kubespray would run {impact.playbook_lines(have)}, the reviewed plan lists "
                    f"{impact.playbook_lines(want)}: make a new plan "
                    "(the nodes changed since)")
        results = []
        for step in todo:
            session.events.emit(self.name, "info", impact.playbook_line(step.playbook, step.limit),
                                playbook=step.playbook, limit=list(step.limit))
            result = ansible.run_playbook(
                session.kubespray(), step.playbook, inventory_file=wd.inventory / "hosts.yaml",
                ssh_config=session.ssh_config(session.nodes), run_dir=session.run_dir, events=session.events,
                limit=",".join(step.limit) or None, extravars=step.extravars or None, fact_cache=wd.fact_cache,
                secret_env=referenced_env(session.site))
            result.raise_for_failure()
            results.append(result)
        # established members keep their order (the inventory's and etcd's names follow it), new ones come after
        # in the inventory's order
        rank = {m.name: i for i, m in enumerate(members_mod.load(wd.members_file))}
        place = {name: i for i, name in enumerate(hosts)}
        ordered = sorted(session.nodes, key=lambda n: (n.name not in rank, rank.get(n.name, place.get(n.name, 0))))
        members_mod.write(wd.members_file, members_mod.Record(
            settings=settings_digest(session), version=session.site.kubernetes.version,
            members=tuple(members_mod.of(ordered, hosts))))
        reviewed.unlink(missing_ok=True)  # done (or superseded by `up`)
        return results

    def done_message(self, result: list[PlaybookResult]) -> str:
        return ", ".join(r.playbook for r in result) if result else "only nodes left: no playbook to run"
