"""Meaning checks: the ones Kubespray does without facts, and the ones it misses.

Each check returns ``(location, message)`` pairs so the loader can point at the line that causes it. Checks read
:class:`Parts` rather than a whole :class:`Site`, so they also run on a site file with schema problems: on the
sections and pools that did validate. One run then shows schema and meaning problems together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kprov.site.model import Kubernetes, Network
from kprov.site.types import NodeSpec, Role
from kprov.targets import target_for
from kprov.targets.base import Loc


@dataclass(frozen=True)
class Parts:
    """What the meaning checks look at. Of a schema-valid site, all of it; of a site file with schema problems,
    the sections that validated (None: that section did not) and the nodes of the pools that validated."""

    kubernetes: Kubernetes | None
    network: Network | None
    providers: Mapping[str, Any]
    """Provider blocks that validated, by name."""
    nodes: Sequence[NodeSpec]
    complete: bool
    """Whether ``nodes`` are all of the site's nodes (every pool validated). Checks that need every node (roles,
    etcd quorum) run only then; the others run on the nodes there are."""


Check = Callable[[Parts], Iterable[tuple[Loc, str]]]


def _roles(parts: Parts) -> Iterable[tuple[Loc, str]]:
    if not parts.complete:
        return
    control = [n for n in parts.nodes if Role.CONTROL_PLANE in n.roles]
    etcd = [n for n in parts.nodes if Role.ETCD in n.roles]
    if not control:
        yield ("pools",), "no pool has the role control_plane: a cluster needs at least one control-plane node"
    if parts.kubernetes is None:
        return  # kubernetes.vars decides whether etcd members are needed at all
    etcd_by_kubeadm = parts.kubernetes.vars.get("etcd_deployment_type") == "kubeadm"
    if not etcd and not etcd_by_kubeadm:
        yield ("pools",), "no pool has the role etcd (or set kubernetes.vars.etcd_deployment_type: kubeadm)"
    elif len(etcd) % 2 == 0 and etcd:
        names = ", ".join(n.name for n in etcd)
        yield ("pools",), f"etcd needs an odd number of members for quorum, found {len(etcd)} ({names})"


def _duplicates(parts: Parts) -> Iterable[tuple[Loc, str]]:
    seen: dict[tuple[str, str], NodeSpec] = {}
    for node in parts.nodes:
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


def _addresses(parts: Parts) -> Iterable[tuple[Loc, str]]:
    if parts.network is None:
        return
    net, gateway = parts.network.cidr, parts.network.gateway
    if gateway is not None and gateway not in net:
        yield ("network", "gateway"), f"gateway {gateway} is outside the site network {net}"
    for node in parts.nodes:
        ip = ipaddress.IPv4Address(node.ip)
        if ip not in net:
            yield (*node.loc, "ip"), f"address {ip} of node {node.name} is outside the site network {net}"
        elif ip in (net.network_address, net.broadcast_address):
            yield (*node.loc, "ip"), f"address {ip} is the network's own network or broadcast address"
        elif gateway is not None and ip == gateway:
            yield (*node.loc, "ip"), f"address {ip} of node {node.name} is the gateway's"


def _cidrs(parts: Parts) -> Iterable[tuple[Loc, str]]:
    k = parts.kubernetes
    named: list[tuple[Loc, str, ipaddress.IPv4Network]] = []
    if k is not None:
        named += [(("kubernetes", "pods_cidr"), "pods_cidr", k.pods_cidr),
                  (("kubernetes", "services_cidr"), "services_cidr", k.services_cidr)]
    if parts.network is not None:
        named.append((("network", "cidr"), "network.cidr", parts.network.cidr))
    for i, (loc_a, name_a, a) in enumerate(named):
        for _, name_b, b in named[i + 1:]:
            if a.overlaps(b):
                yield loc_a, f"{name_a} {a} overlaps {name_b} {b}"
    if k is None:
        return
    if k.node_prefix < k.pods_cidr.prefixlen:
        yield (("kubernetes", "node_prefix"),
               f"node_prefix /{k.node_prefix} is larger than pods_cidr {k.pods_cidr} itself")
    else:
        capacity = 2 ** (k.node_prefix - k.pods_cidr.prefixlen)
        if capacity < len(parts.nodes):  # with pools left out, the count is a lower bound: still too many
            yield (("kubernetes", "pods_cidr"),
                   f"pods_cidr {k.pods_cidr} holds {capacity} node subnets of /{k.node_prefix}, "
                   f"but the site has {len(parts.nodes)} nodes")


def _provider_versions(parts: Parts) -> Iterable[tuple[Loc, str]]:
    """One root module can pin each Terraform provider once: providers of one type must agree on the version."""
    first: dict[str, tuple[str, str]] = {}
    for name, provider in parts.providers.items():
        tf = target_for(provider.type).terraform_provider(provider)
        if tf is None:
            continue
        seen = first.setdefault(tf.local_name, (name, tf.version))
        if seen[1] != tf.version:
            yield (("providers", name, "terraform_provider_version"),
                   f"{tf.source} {tf.version} differs from {seen[1]} of provider {seen[0]}: one site pins one version")


CHECKS: tuple[Check, ...] = (_roles, _duplicates, _addresses, _cidrs, _provider_versions)


def problems(parts: Parts) -> list[tuple[Loc, str]]:
    """Every meaning problem the checks can find in ``parts``."""
    out: list[tuple[Loc, str]] = []
    for check in CHECKS:
        out.extend(check(parts))
    return out


