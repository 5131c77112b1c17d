"""``proxmox``: VMs cloned from a template VM in a Proxmox VE cluster (bpg/proxmox).

The pool's VMs are spread round-robin over the Proxmox nodes it may use; cloud-init gives each its user, SSH
key and static address; the disk is grown to the asked size. The API token is a secret reference and reaches
Terraform only as ``TF_VAR_<provider>_api_token``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from kprov.site.secrets import SecretRef
from kprov.targets.base import SiteContext, host_port
from kprov.targets.vm import HostName, ProviderVersion, VmPool, VmProvider, VmTarget

PROXMOX_PROVIDER_VERSION = "0.66.3"

class ProxmoxProvider(VmProvider):
    type: Literal["proxmox"]
    endpoint: Annotated[str, StringConstraints(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/?$")]
    api_token: SecretRef
    """``user@realm!tokenid=secret``, from the environment or a file."""
    insecure: bool = False
    nodes: Annotated[list[HostName], Field(min_length=1)]
    """Proxmox nodes VMs may be placed on (spread round-robin)."""
    template_id: Annotated[int, Field(ge=100, le=999_999_999)]
    template_node: HostName | None = None
    """The node that holds the template (default: the first of ``nodes``)."""
    datastore: HostName = "local-lvm"
    bridge: HostName = "vmbr0"
    terraform_provider_version: ProviderVersion = PROXMOX_PROVIDER_VERSION


class ProxmoxPool(VmPool):
    nodes: list[HostName] | None = None
    """Pin the pool to these Proxmox nodes (default: all of the provider's)."""
    vlan: Annotated[int, Field(ge=1, le=4094)] | None = None


class Proxmox(VmTarget[ProxmoxProvider, ProxmoxPool]):
    name = "proxmox"
    terraform_source = "bpg/proxmox"
    pins = ("nodes", "Proxmox node")

    def endpoints(self, provider: ProxmoxProvider) -> list[tuple[str, str, int]]:
        return [("Proxmox API", *host_port(provider.endpoint, 8006))]

    def provider_settings(self, provider: ProxmoxProvider) -> dict[str, Any]:
        return {"endpoint": provider.endpoint, "insecure": provider.insecure}

    def credentials(self, provider: ProxmoxProvider) -> dict[str, str | SecretRef]:
        return {"api_token": provider.api_token}

    def settings(self, pool_name: str, pool: ProxmoxPool, provider: ProxmoxProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        targets = pool.nodes or provider.nodes
        names = [f"{pool_name}-{i + 1}" for i in range(pool.count)]
        return {
            "placement": {n: targets[i % len(targets)] for i, n in enumerate(names)},
            "template_id": provider.template_id, "template_node": provider.template_node or provider.nodes[0],
            "datastore": provider.datastore, "bridge": provider.bridge, "vlan": pool.vlan,
            **pool.sizes(),
        }
