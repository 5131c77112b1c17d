"""``standin_ipaddr``: the three uses of ``ansible.utils.ipaddr`` in Kubespray's validate_inventory, with the same
results, on the standard library (kprov's Kubespray stand-in has no collections).

- ``value | standin_ipaddr('net')``: the network if ``value`` is a network address with more than one address,
  else ``False``.
- ``value | standin_ipaddr('prefix')``: the prefix length, else ``False``.
- ``value | standin_ipaddr(cidr)``: ``value`` if it lies inside ``cidr``, else ``None``. (So a pods CIDR that
  *contains* the services CIDR passes Kubespray's overlap check; the stand-in keeps that gap.)
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(value: Any, *, strict: bool) -> Network | None:
    try:
        return ipaddress.ip_network(str(value), strict=strict)
    except ValueError:
        return None


def standin_ipaddr(value: Any, query: str = "") -> Any:
    if query == "net":
        net = _network(value, strict=True)
        return str(net) if net is not None and net.num_addresses > 1 else False
    net = _network(value, strict=False)
    if net is None:
        return False
    if query == "prefix":
        return net.prefixlen
    outer = _network(query, strict=False)
    if outer is None:
        return False
    return value if net.version == outer.version and net.subnet_of(outer) else None  # type: ignore[arg-type]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"standin_ipaddr": standin_ipaddr}
