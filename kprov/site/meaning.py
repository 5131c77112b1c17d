"""Meaning checks on a schema-valid site: the ones Kubespray does without facts, and the ones it misses.

Each check returns ``(location, message)`` pairs so the loader can point at the line that causes it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from kprov.site.model import Site
from kprov.site.types import NodeSpec, Role
from kprov.targets import target_for
from kprov.targets.base import Loc

Check = Callable[[Site, list[NodeSpec]], Iterable[tuple[Loc, str]]]


def _roles(site: Site, nodes: list[NodeSpec]) -> Iterable[tuple[Loc, str]]:
    control = [n for n in nodes if Role.CONTROL_PLANE in n.roles]
    etcd = [n for n in nodes if Role.ETCD in n.roles]
    if not control:
        yield ("pools",), "no pool has the role control_plane: a cluster needs at least one control-plane node"
    etcd_by_kubeadm = site.kubernetes.vars.get("etcd_deployment_type") == "kubeadm"
    if not etcd and not etcd_by_kubeadm:
        yield ("pools",), "no pool has the role etcd (or set kubernetes.vars.etcd_deployment_type: kubeadm)"
    elif len(etcd) % 2 == 0 and etcd:
        names = ", ".join(n.name for n in etcd)
        yield ("pools",), f"etcd needs an odd number of members for quorum, found {len(etcd)} ({names})"


def _duplicates(site: Site, nodes: list[NodeSpec]) -> Iterable[tuple[Loc, str]]:
    seen: dict[tuple[str, str], NodeSpec] = {}
    for node in nodes:
        keys = [("name", node.name), ("address", node.ip)]
        if node.access_ip != node.ip:
            keys.append(("address", node.access_ip))
        if node.mac:
            keys.append(("MAC", node.mac.lower()))
        for kind, value in keys:
            first = seen.setdefault((kind, value), node)
            if first is not node:
                field = {"name": "name", "address": "ip", "MAC": "mac"}[kind]
                yield (*node.loc, field), f"duplicate node {kind} {value} (also used by node {first.name})"


def _addresses(site: Site, nodes: list[NodeSpec]) -> Iterable[tuple[Loc, str]]:
    net = site.network.cidr
    if site.network.gateway is not None and site.network.gateway not in net:
        yield ("network", "gateway"), f"gateway {site.network.gateway} is outside the site network {net}"
    for node in nodes:
        ip = ipaddress.IPv4Address(node.ip)
        if ip not in net:
            yield (*node.loc, "ip"), f"address {ip} of node {node.name} is outside the site network {net}"
        elif ip in (net.network_address, net.broadcast_address):
            yield (*node.loc, "ip"), f"address {ip} is the network's own network or broadcast address"
        elif site.network.gateway is not None and ip == site.network.gateway:
            yield (*node.loc, "ip"), f"address {ip} of node {node.name} is the gateway's"


def _cidrs(site: Site, nodes: list[NodeSpec]) -> Iterable[tuple[Loc, str]]:
    k = site.kubernetes
    named = [
        (("kubernetes", "pods_cidr"), "pods_cidr", k.pods_cidr),
        (("kubernetes", "services_cidr"), "services_cidr", k.services_cidr),
        (("network", "cidr"), "network.cidr", site.network.cidr),
    ]
    for i, (loc_a, name_a, a) in enumerate(named):
        for _, name_b, b in named[i + 1:]:
            if a.overlaps(b):
                yield loc_a, f"{name_a} {a} overlaps {name_b} {b}"
    if k.node_prefix < k.pods_cidr.prefixlen:
        yield (("kubernetes", "node_prefix"),
               f"node_prefix /{k.node_prefix} is larger than pods_cidr {k.pods_cidr} itself")
    else:
        capacity = 2 ** (k.node_prefix - k.pods_cidr.prefixlen)
        if capacity < len(nodes):
            yield (("kubernetes", "pods_cidr"),
                   f"pods_cidr {k.pods_cidr} holds {capacity} node subnets of /{k.node_prefix}, "
                   f"but the site has {len(nodes)} nodes")


def _provider_versions(site: Site, nodes: list[NodeSpec]) -> Iterable[tuple[Loc, str]]:
    """One root module can pin each Terraform provider once: providers of one type must agree on the version."""
    first: dict[str, tuple[str, str]] = {}
    for name, provider in site.providers.items():
        tf = target_for(provider.type).terraform_provider(provider)
        if tf is None:
            continue
        seen = first.setdefault(tf.local_name, (name, tf.version))
        if seen[1] != tf.version:
            yield (("providers", name, "terraform_provider_version"),
                   f"{tf.source} {tf.version} differs from {seen[1]} of provider {seen[0]}: one site pins one version")


CHECKS: tuple[Check, ...] = (_roles, _duplicates, _addresses, _cidrs, _provider_versions)


def site_problems(site: Site, nodes: list[NodeSpec]) -> list[tuple[Loc, str]]:
    """Every meaning problem of a schema-valid site."""
    out: list[tuple[Loc, str]] = []
    for check in CHECKS:
        out.extend(check(site, nodes))
    return out

