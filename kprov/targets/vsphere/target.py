"""``vsphere``: VMs cloned from a template through vCenter (hashicorp/vsphere).

Small control-plane VMs and big hosts carved into worker VMs, spread over ESXi hosts by a DRS anti-affinity rule
per pool. Addresses are static, set by guest customization or by cloud-init through guestinfo; credentials are
secret references that reach Terraform only as ``TF_VAR_*`` environment variables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import StringConstraints, model_validator

from kprov.site.secrets import SecretRef
from kprov.site.types import exactly_one
from kprov.targets.base import SiteContext, host_port
from kprov.targets.vm import Name, ProviderVersion, VmPool, VmProvider, VmTarget

if TYPE_CHECKING:
    from kprov.site.load import LoadedSite

VSPHERE_PROVIDER_VERSION = "2.0.2"
"""The hashicorp/vsphere version kprov is tested with (offline validate and the vCenter simulator)."""

class VsphereProvider(VmProvider):
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
    terraform_provider_version: ProviderVersion = VSPHERE_PROVIDER_VERSION

    @model_validator(mode="after")
    def _one_network_form(self) -> Self:
        return exactly_one(self, "network", "networks", "give exactly one of 'network' or 'networks'")

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
    terraform_source = "hashicorp/vsphere"
    snapshot_resource = "vsphere_virtual_machine_snapshot"

    def snapshots_of(self, loaded: LoadedSite, provider_name: str, provider: VsphereProvider, node: str
                     ) -> list[str] | None:
        from kprov.targets.vsphere import vcenter  # noqa: PLC0415 - deferred: pyVmomi

        with vcenter.connect(provider, loaded.base_dir) as si:
            return vcenter.snapshot_names(vcenter.find_vm(si, provider, node))

    def revert_snapshot(self, loaded: LoadedSite, provider_name: str, provider: VsphereProvider, node: str,
                        name: str) -> None:
        """vCenter's revert (the provider has none); the VM is powered on again after it."""
        from kprov.targets.vsphere import vcenter  # noqa: PLC0415 - deferred: pyVmomi

        with vcenter.connect(provider, loaded.base_dir) as si:
            vcenter.revert(si, vcenter.find_vm(si, provider, node), name)

    def endpoints(self, provider: VsphereProvider) -> list[tuple[str, str, int]]:
        return [("vCenter", *host_port(provider.server, 443))]

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
            "template": pool.template or provider.template, **pool.sizes(),
            "anti_affinity": pool.anti_affinity, "customization": provider.customization,
        }

