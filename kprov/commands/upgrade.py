"""``kprov upgrade site.yaml --to VERSION``: inventory → ssh → upgrade → kubeconfig, on the nodes the last `up`
made. The site file must already ask for VERSION (so every later `up` keeps it); the way there is shown and
asked for first."""

from __future__ import annotations

from kprov import members as members_mod
from kprov import upgrade
from kprov.commands.base import Command, renderable
from kprov.engine.stage import Session, Stage
from kprov.errors import NotBuilt, UsageError
from kprov.stages.inventory import Inventory
from kprov.stages.kubeconfig import Kubeconfig
from kprov.stages.ssh import Ssh
from kprov.stages.upgrade import Upgrade
from kprov.tools.kubespray import local_tree, supported_versions


def _path(session: Session) -> list[str]:
    record = members_mod.read(session.workdir.members_file)
    tree = local_tree(session.site.kubernetes.kubespray, session.loaded.base_dir)
    return upgrade.path(record.version, session.site.kubernetes.version,
                        supported_versions(tree) if tree is not None else None)


def upgradable(session: Session) -> object:
    """Bootstrapped, asked for the version the site file names, and a path there exists."""
    to, want = str(session.options["to"]), session.site.kubernetes.version
    upgrade.parse(to)
    record = members_mod.read(session.workdir.members_file)
    if not record.members or not record.version:
        raise NotBuilt(f"site {session.loaded.name} was never bootstrapped by this kprov: `kprov up` first")
    if to != want:
        raise UsageError(f"the site file asks for Kubernetes {want}: set kubernetes.version: \"{to}\" in "
                         f"{session.loaded.source.name} first, so every later `up` keeps {to}")
    context = renderable(session)
    if not _path(session):
        raise UsageError(f"site {session.loaded.name} runs Kubernetes {to} already")
    session.nodes = session.known_nodes()
    return context


def question(session: Session) -> str:
    record = members_mod.read(session.workdir.members_file)
    vm = "" if session.options.get("no_vm_snapshot") else " and VM snapshots where the target has them"
    return (f"Upgrade site {session.loaded.name} from Kubernetes {record.version} through "
            f"{' → '.join(_path(session))}, with an etcd snapshot{vm} before each step?")


def _stages(session: Session) -> list[Stage]:
    return [Inventory(), Ssh(), Upgrade(vm_snapshots=not session.options.get("no_vm_snapshot")), Kubeconfig()]


UPGRADE = Command("upgrade", _stages, requires=upgradable, confirm=question, refusal="upgrade")
