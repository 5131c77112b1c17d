"""``vsphere``: VMs cloned from a template through vCenter (hashicorp/vsphere).

Small control-plane VMs and big hosts carved into worker VMs, spread over ESXi hosts by a DRS anti-affinity rule
per pool. Addresses are static, set by guest customization or by cloud-init through guestinfo; credentials are
secret references that reach Terraform only as ``TF_VAR_*`` environment variables.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from kprov.site.secrets import SecretRef
from kprov.targets.base import SiteContext, TerraformProvider
from kprov.targets.vm import VmPool, VmTarget

VSPHERE_PROVIDER_VERSION = "2.0.2"
"""The hashicorp/vsphere version kprov is tested with (offline validate and the vCenter simulator)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class VsphereProvider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["vsphere"]
    server: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+(:\d+)?$")]
    user: str | SecretRef
    password: SecretRef
    insecure: bool = False
    """Accept an unverified TLS certificate (lab vCenters only)."""
    datacenter: Name
    cluster: Name
    datastore: Name
    resource_pool: Name | None = None
    folder: Name | None = None
    network: Name | None = None
    networks: list[Name] | None = None
    template: Name
    customization: Literal["guest", "cloud-init"] = "guest"
    terraform_provider_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+\.\d+$")] = VSPHERE_PROVIDER_VERSION

    @model_validator(mode="after")
    def _one_network_form(self) -> Self:
        if (self.network is None) == (self.networks is None):
            raise ValueError("give exactly one of 'network' or 'networks'")
        return self

    @property
    def network_list(self) -> list[str]:
        return [self.network] if self.network is not None else list(self.networks or [])


class VspherePool(VmPool):
    anti_affinity: bool = False
    """A DRS rule keeps the pool's VMs on different ESXi hosts."""
    template: Name | None = None
    datastore: Name | None = None
    folder: Name | None = None


class Vsphere(VmTarget[VsphereProvider, VspherePool]):
    name = "vsphere"
    provider_model = VsphereProvider
    pool_model = VspherePool

    def terraform_provider(self, provider: VsphereProvider) -> TerraformProvider:
        return TerraformProvider("vsphere", "hashicorp/vsphere", provider.terraform_provider_version)

    def provider_settings(self, provider: VsphereProvider) -> dict[str, Any]:
        return {"server": provider.server, "insecure": provider.insecure}

    def credentials(self, provider: VsphereProvider) -> dict[str, str | SecretRef]:
        return {"user": provider.user, "password": provider.password}

    def settings(self, pool_name: str, pool: VspherePool, provider: VsphereProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        return {
            "datacenter": provider.datacenter, "cluster": provider.cluster,
            "datastore": pool.datastore or provider.datastore, "resource_pool": provider.resource_pool,
            "folder": pool.folder or provider.folder, "networks": provider.network_list,
            "template": pool.template or provider.template, "cpus": pool.cpus,
            "memory_mib": pool.memory_mib, "disk_gib": pool.disk_gib,
            "anti_affinity": pool.anti_affinity, "customization": provider.customization,
        }

