"""``openstack``: servers from an image and a flavor (terraform-provider-openstack/openstack).

Each node gets a port with its fixed address on the given network/subnet, so addresses are known before boot;
an anti-affinity server group per pool spreads it over hypervisors; floating IPs are optional and then become the
nodes' ``access_ip``. Credentials (password or application credential) reach Terraform only as ``TF_VAR_*``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import StringConstraints, model_validator

from kprov.site.secrets import SecretRef
from kprov.targets.base import Loc, SiteContext, host_port
from kprov.targets.vm import Name, ProviderVersion, VmPool, VmProvider, VmTarget

OPENSTACK_PROVIDER_VERSION = "2.1.0"

class OpenstackProvider(VmProvider):
    type: Literal["openstack"]
    auth_url: Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]
    region: Name
    project: Name | None = None
    domain: Name = "Default"
    user: str | SecretRef | None = None
    password: SecretRef | None = None
    application_credential_id: str | SecretRef | None = None
    application_credential_secret: SecretRef | None = None
    network: Name
    subnet: Name
    image: Name
    flavor: Name
    floating_ip_pool: Name | None = None
    security_groups: list[Name] = []
    terraform_provider_version: ProviderVersion = OPENSTACK_PROVIDER_VERSION

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        password = self.user is not None and self.password is not None
        appcred = self.application_credential_id is not None and self.application_credential_secret is not None
        if password == appcred:
            raise ValueError("give either user + password (+ project) or application_credential_id + "
                             "application_credential_secret")
        if password and self.project is None:
            raise ValueError("password authentication needs 'project'")
        return self

    @property
    def auth(self) -> str:
        return "password" if self.password is not None else "application_credential"


class OpenstackPool(VmPool):
    flavor: Name | None = None
    """Overrides the provider's flavor; cpus/memory_gib then document intent only."""
    image: Name | None = None
    anti_affinity: bool = False
    floating_ips: bool = False


class Openstack(VmTarget[OpenstackProvider, OpenstackPool]):
    name = "openstack"
    terraform_source = "terraform-provider-openstack/openstack"

    def check_pool(self, pool: OpenstackPool, provider: OpenstackProvider) -> list[tuple[Loc, str]]:
        if pool.floating_ips and provider.floating_ip_pool is None:
            return [(("floating_ips",), "floating IPs need floating_ip_pool on the provider")]
        return []

    def endpoints(self, provider: OpenstackProvider) -> list[tuple[str, str, int]]:
        return [("Keystone", *host_port(provider.auth_url, 5000))]

    def provider_settings(self, provider: OpenstackProvider) -> dict[str, Any]:
        return {"auth_url": provider.auth_url, "region": provider.region, "project": provider.project,
                "domain": provider.domain}

    def credentials(self, provider: OpenstackProvider) -> dict[str, str | SecretRef]:
        if provider.auth == "password":
            assert provider.user is not None and provider.password is not None
            return {"user": provider.user, "password": provider.password}
        assert provider.application_credential_id is not None
        assert provider.application_credential_secret is not None
        return {"application_credential_id": provider.application_credential_id,
                "application_credential_secret": provider.application_credential_secret}

    def settings(self, pool_name: str, pool: OpenstackPool, provider: OpenstackProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        return {
            "network": provider.network, "subnet": provider.subnet,
            "image": pool.image or provider.image, "flavor": pool.flavor or provider.flavor,
            "anti_affinity": pool.anti_affinity,
            "floating_ip_pool": provider.floating_ip_pool if pool.floating_ips else None,
            "security_groups": list(provider.security_groups), "disk_gib": pool.disk_gib,
        }
