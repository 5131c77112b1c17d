"""The Kubespray inventory, built as data and dumped as YAML with user strings that could be templated tagged
``!unsafe``.

Ansible evaluates Jinja in inventory values (a label ``{{ 6*7 }}`` would become ``42``); ``!unsafe`` makes it
keep them literal. Only strings containing ``{`` are tagged: Jinja cannot start without it, and ansible-core 2.19
re-resolves the scalar under an ``!unsafe`` tag by YAML 1.1 rules even when quoted, so ``!unsafe 'yes'`` arrives
as the boolean ``True`` and ``!unsafe '1'`` as an integer. Untagged strings are quoted by the dumper where YAML
could misread them, and stay strings. Layout: ``hosts.yaml`` plus ``group_vars/{all,k8s_cluster}/kprov.yml``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from kprov.engine.fingerprint import fingerprint
from kprov.engine.workdir import private_dir, write_atomic
from kprov.nodes import Node
from kprov.site.model import Site
from kprov.site.types import Role


class Unsafe(str):
    """A string Ansible must never template."""

    __slots__ = ()


class _Dumper(yaml.CSafeDumper):  # libyaml emitter: 5x faster on big inventories
    pass


def _represent_unsafe(dumper: yaml.CSafeDumper, value: Unsafe) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", str(value))


_Dumper.add_representer(Unsafe, _represent_unsafe)


def unsafe(value: Any) -> Any:
    """Tag every string inside ``value`` that Jinja could see as a template (keys are not templated)."""
    if isinstance(value, str):
        return Unsafe(value) if "{" in value else value
    if isinstance(value, dict):
        return {k: unsafe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unsafe(v) for v in value]
    return value


def dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)


def hosts(nodes: Sequence[Node], ssh_port: int = 22, established: Sequence[str] = ()) -> dict[str, Any]:
    """``hosts.yaml`` content. A ``k8s_cluster`` member comes first: Kubespray runs some asserts only on the
    first inventory host, and an etcd-only host there would skip ``group_vars/k8s_cluster``.

    ``established``: the cluster's members in the order they were brought up. They keep that order, and new
    nodes come after them in every group: Kubespray takes the first control-plane node as the one that
    initialised the cluster, and names etcd members by position (``etcd1``…), so a node added before them in the
    site file must not take their place."""
    rank = {name: i for i, name in enumerate(established)}

    def age(n: Node) -> int:
        return rank.get(n.name, len(rank))

    ordered = sorted(nodes, key=lambda n: (not n.has(Role.CONTROL_PLANE), not _in_k8s_cluster(n), age(n)))
    etcd_index = {n.name: i + 1 for i, n in enumerate(sorted((x for x in ordered if x.has(Role.ETCD)), key=age))}
    all_hosts: dict[str, Any] = {}
    for n in ordered:
        hv: dict[str, Any] = {
            "ansible_host": n.access_ip, "ansible_user": n.ssh_user, "ip": n.ip, "access_ip": n.access_ip,
        }
        if ssh_port != 22:
            hv["ansible_port"] = ssh_port
        if n.name in etcd_index:
            hv["etcd_member_name"] = f"etcd{etcd_index[n.name]}"
        hv["node_labels"] = {"kprov.io/pool": n.pool, **n.labels}
        all_hosts[n.name] = unsafe(hv)

    def group(role: Role) -> dict[str, Any]:
        return {"hosts": {n.name: None for n in ordered if n.has(role)}}

    children: dict[str, Any] = {
        "kube_control_plane": group(Role.CONTROL_PLANE),
        "kube_node": group(Role.WORKER),
        "etcd": group(Role.ETCD),
        "k8s_cluster": {"children": {"kube_control_plane": None, "kube_node": None, "calico_rr": None}},
        "calico_rr": {"hosts": {}},
    }
    if not children["etcd"]["hosts"]:
        # etcd_deployment_type: kubeadm. Kubespray counts an empty etcd group as an even number of members and
        # fails; the group must be absent, not empty.
        del children["etcd"]
    return {"all": {"hosts": all_hosts, "children": children}}


def host_digests(inventory: dict[str, Any]) -> dict[str, str]:
    """Per host of ``hosts.yaml`` content, a digest of its variables and the groups it is in: a host whose digest
    is unchanged needs no playbook run for itself."""
    top = inventory["all"]
    groups = {g: set((v or {}).get("hosts") or {}) for g, v in top["children"].items()}
    return {name: fingerprint(json.dumps(hv, sort_keys=True, default=str),
                              *sorted(g for g, members in groups.items() if name in members))
            for name, hv in top["hosts"].items()}


def _in_k8s_cluster(n: Node) -> bool:
    return n.has(Role.CONTROL_PLANE) or n.has(Role.WORKER)


def group_vars_all(site: Site) -> dict[str, Any]:
    k = site.kubernetes
    managed: dict[str, Any] = {
        "kube_version": unsafe(k.version),
        "kubeconfig_localhost": True,
        "kprov_site": unsafe(site.metadata.name),
        "kprov_site_description": unsafe(site.metadata.description),
    }
    if site.network.dns:
        managed["upstream_dns_servers"] = [unsafe(str(a)) for a in site.network.dns]
    return {**managed, **unsafe(dict(k.vars))}


def group_vars_k8s_cluster(site: Site) -> dict[str, Any]:
    k = site.kubernetes
    return {
        "kube_network_plugin": unsafe(k.network_plugin),
        "container_manager": unsafe(k.container_manager),
        "kube_pods_subnet": unsafe(str(k.pods_cidr)),
        "kube_service_addresses": unsafe(str(k.services_cidr)),
        "kube_network_node_prefix": k.node_prefix,
    }


HEADER = "# Written by kprov from the site file and Terraform's outputs; `kprov up` rewrites it.\n"


def write(directory: Path, site: Site, nodes: Sequence[Node], established: Sequence[str] = ()) -> Path:
    """Write the inventory (``established``: see :func:`hosts`); returns the path of ``hosts.yaml``."""
    private_dir(directory)
    write_atomic(directory / "hosts.yaml", HEADER + dump(hosts(nodes, site.ssh.port, established)))
    write_group_vars(directory, site)
    return directory / "hosts.yaml"


def write_group_vars(directory: Path, site: Site) -> Path:
    """The settings for every node (``group_vars/``); returns that folder."""
    write_atomic(directory / "group_vars" / "all" / "kprov.yml", HEADER + dump(group_vars_all(site)))
    write_atomic(directory / "group_vars" / "k8s_cluster" / "kprov.yml", HEADER + dump(group_vars_k8s_cluster(site)))
    return directory / "group_vars"


class _Loader(yaml.SafeLoader):
    """Reads back what :func:`dump` wrote: ``!unsafe`` scalars as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def changed_vars(old: Path, new: Path) -> list[str]:
    """The variables whose values differ between two ``group_vars/`` folders, as ``group: name``."""
    changed = []
    for group in ("all", "k8s_cluster"):
        sides = []
        for root in (old, new):
            f = root / group / "kprov.yml"
            sides.append(yaml.load(f.read_text(), Loader=_Loader) or {} if f.is_file() else {})  # noqa: S506
        before, after = sides
        changed += [f"{group}: {k}" for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    return changed
