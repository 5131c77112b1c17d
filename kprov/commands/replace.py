"""``kprov replace site.yaml NODE``: a dead node out of the cluster (its etcd member first, through the others),
its machine made again by Terraform (``-replace``: a new VM, a re-PXE'd machine; a static machine you reinstalled),
joined again like a new node, and then etcd checked for its full member count and health. Asks first."""

from __future__ import annotations

from kprov import impact
from kprov import members as members_mod
from kprov.commands.base import Command, renderable
from kprov.engine.stage import Session, Stage
from kprov.errors import NotBuilt, UsageError
from kprov.site.types import Role
from kprov.stages.bootstrap import Bootstrap
from kprov.stages.infra import Infra
from kprov.stages.inventory import Inventory
from kprov.stages.kubeconfig import Kubeconfig
from kprov.stages.preflight import Preflight
from kprov.stages.replace import EtcdHealth, RemoveDead
from kprov.stages.ssh import Ssh
from kprov.stages.verify import Verify


def replaceable(session: Session) -> object:
    node = str(session.options["replace"])
    context = renderable(session)
    if node not in {n.name for n in session.loaded.nodes}:
        raise UsageError(f"site {session.loaded.name} has no node {node!r}")
    members = members_mod.load(session.workdir.members_file)
    if not members:
        raise NotBuilt(f"site {session.loaded.name} was never bootstrapped: `kprov up` first")
    first = members_mod.first_control_plane(members)
    if first is not None and first.name == node:
        raise UsageError(f"{node} is the first control-plane node, which Kubespray cannot remove: make another "
                         "control-plane node first (see `kprov plan`), or restore the cluster from an etcd snapshot")
    etcd = [m for m in members if m.has(Role.ETCD)]
    if [m.name for m in etcd] == [node]:
        raise UsageError(f"{node} is the only etcd member: its data is gone with it; restore from an etcd "
                         "snapshot (kprov snapshot list) instead")
    impact.refuse(impact.of_site(session))
    return context


def question(session: Session) -> str:
    node = session.options["replace"]
    return (f"Replace {node} of site {session.loaded.name}: remove it from the cluster without contacting it, "
            f"make its machine again, and join it again?")


def _stages(session: Session) -> list[Stage]:
    node = str(session.options["replace"])
    return [RemoveDead(node), Infra(), Inventory(), Ssh(), Preflight(), Bootstrap(), Kubeconfig(), Verify(),
            EtcdHealth()]


REPLACE = Command("replace", _stages, requires=replaceable, confirm=question, refusal="replace a node")
