"""Network filters the stand-in needs (real Kubespray uses the ansible.utils collection, not installed here)."""

from __future__ import annotations

import ipaddress


def is_network(value: object) -> bool:
    try:
        ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return False
    return True


def networks_overlap(a: object, b: object) -> bool:
    return ipaddress.ip_network(str(a), strict=False).overlaps(ipaddress.ip_network(str(b), strict=False))


def prefix_length(value: object) -> int:
    return ipaddress.ip_network(str(value), strict=False).prefixlen


class FilterModule:
    def filters(self) -> dict[str, object]:
        return {"standin_is_network": is_network, "standin_overlaps": networks_overlap,
                "standin_prefix": prefix_length}
