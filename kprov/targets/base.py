"""The contract every target (static, vsphere, libvirt, ...) fulfils, kprov's own and outside plug-ins alike.

A target is a Python class registered in the ``kprov.targets`` entry-point group (schemas of its provider block
and pool options, meaning checks, the data its Terraform module needs, the stages and environment it adds), a
template folder ``templates/terraform/<name>/`` and a Terraform module ``terraform/modules/<name>/``. Every
module takes the same ``pool``/``nodes``/``site`` variables (plus a ``settings`` variable of its own) and returns
the same ``nodes`` output (see :mod:`kprov.targets.contract`), so the inventory, SSH and verify stages never know
which target made a node.
"""

from __future__ import annotations

import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args

import jinja2
from pydantic import BaseModel

from kprov.errors import UsageError
from kprov.paths import asset_dir
from kprov.site.secrets import SecretRef
from kprov.site.types import NodeSpec
from kprov.targets.contract import Site

if TYPE_CHECKING:
    from kprov.doctor import Finding
    from kprov.engine.stage import Session, Stage
    from kprov.site.load import LoadedSite

Loc = tuple[str | int, ...]
P = TypeVar("P", bound=BaseModel)
Q = TypeVar("Q", bound=BaseModel)


SiteContext = Site
"""What every target may need from the rest of the site when it renders a pool: the contract's
:class:`~kprov.targets.contract.Site`, the same object its module gets as ``var.site``. A target's ``settings``
carry only what is its own; the site's name, description, network and SSH user and key reach the module there."""


@dataclass(frozen=True)
class TerraformProvider:
    """A Terraform provider a target needs, pinned in the rendered ``required_providers``."""

    local_name: str
    source: str
    version: str


class Target(ABC, Generic[P, Q]):
    """One kind of machine source. Subclasses are registered in :mod:`kprov.targets`.

    ``class Vsphere(VmTarget[VsphereProvider, VspherePool])`` names the models of its provider blocks and pools
    once: they become ``provider_model`` and ``pool_model``."""

    name: ClassVar[str]
    """The ``type`` of its provider blocks, its entry-point name, and the name of its module and templates."""
    needs_public_key: ClassVar[bool] = False
    snapshot_resource: ClassVar[str | None] = None
    """The Terraform resource type the target's module makes per name in ``NodeInput.snapshots`` (``kprov
    snapshot``), or None: the target has no snapshots."""
    provider_model: ClassVar[type[BaseModel]]
    pool_model: ClassVar[type[BaseModel]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if len(args) == 2 and all(isinstance(a, type) and issubclass(a, BaseModel) for a in args):
                cls.provider_model, cls.pool_model = args

    @abstractmethod
    def nodes(self, pool_name: str, pool: Q, provider_name: str, provider: P, ssh_user: str) -> list[NodeSpec]:
        """The nodes a pool asks for, in the order the user wrote them."""

    def check(self, pool_name: str, pool: Q, provider: P) -> list[tuple[Loc, str]]:
        """Meaning checks beyond the schema; locations are relative to the pool."""
        return []

    def settings(self, pool_name: str, pool: Q, provider: P, ctx: SiteContext) -> dict[str, Any]:
        """Target-specific, non-secret module input for one pool (goes to ``kprov.auto.tfvars.json``). What the
        whole site shares (``ctx``: name, description, network, SSH user and key) is not repeated here: every
        module gets it as ``var.site``."""
        return {}

    def terraform_provider(self, provider: P) -> TerraformProvider | None:
        """The Terraform provider this target's module needs (None: no provider, like ``static``)."""
        return None

    def provider_settings(self, provider: P) -> dict[str, Any]:
        """Non-secret settings of a provider block (goes to ``kprov.auto.tfvars.json`` as ``providers.NAME``)."""
        return {}

    def instances(self, provider_name: str, provider: P) -> dict[str, dict[str, Any]]:
        """Terraform provider configurations this provider block needs, by name, with their settings.

        One for most targets; a target that talks to several endpoints (libvirt: one per hypervisor host) has
        one per endpoint, each with its own module instance."""
        return {provider_name: self.provider_settings(provider)}

    def instance_of(self, provider_name: str, provider: P, pool: Q, index: int) -> str:
        """Which instance makes the pool's ``index``-th node."""
        return provider_name

    def files(self, pool_name: str, pool: Q, provider: P, ctx: SiteContext) -> dict[str, str]:
        """Files the pool's module reads, by path relative to the Terraform root (bare metal: boot files)."""
        return {}

    def boot_timeout(self, provider: P) -> int:
        """Seconds a new node of this target may take to answer SSH (beyond ``ssh.connect_timeout``)."""
        return 0

    def credentials(self, provider: P) -> dict[str, str | SecretRef]:
        """Provider credentials by variable suffix; each reaches Terraform only as ``TF_VAR_<name>_<suffix>``."""
        return {}

    # Where the target's files are. kprov's own targets keep them in kprov's assets; a plug-in overrides these.

    def module_dir(self) -> Path:
        """The target's Terraform module (copied into the workdir as ``modules/<name>``)."""
        return asset_dir("terraform") / "modules" / self.name

    def template_dir(self) -> Path:
        """The target's templates: ``provider.tf.j2`` (its provider block in the root module) and its own."""
        return asset_dir("templates") / "terraform" / self.name

    def example(self) -> str:
        """A commented site file to start from (``kprov init --target <name>``)."""
        return (asset_dir("examples") / f"{self.name}.yaml").read_text()

    def provider_block(self, instance: str, credentials: Collection[str]) -> str:
        """The root module's ``provider`` block for one instance: structure only, values come from variables
        (``credentials``: the names of the site's credential variables)."""
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(self.template_dir())), undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
            autoescape=False,  # noqa: S701 - HCL, and only validated identifiers reach it
        )
        return env.get_template("provider.tf.j2").render(name=instance, credentials=credentials)

    # What the target adds to the engine: stages, Terraform's environment, machine actions.

    def stages_before_infra(self, loaded: LoadedSite) -> list[Stage]:
        """Stages that must run before Terraform makes this target's machines (bare metal: its PXE server)."""
        return []

    def terraform_environment(self, session: Session) -> dict[str, str]:
        """Environment the target's module needs at plan/apply time (never secrets of the site file)."""
        return {}

    def power(self, loaded: LoadedSite, node: str, action: str) -> str:
        """``kprov power``: act on one of the target's machines through its BMC; returns the power state."""
        raise UsageError(f"{node}: machines of target {self.name} have no BMC kprov can drive")

    def endpoints(self, provider: P) -> list[tuple[str, str, int]]:
        """What this machine must reach for the provider block: (what, host, port); ``kprov doctor`` tries each."""
        return []

    def doctor(self, loaded: LoadedSite, provider_name: str, provider: P) -> list[Finding]:
        """``kprov doctor``'s checks for one provider block: by default, that its endpoints answer."""
        from kprov.doctor import reachable  # noqa: PLC0415

        return [reachable(f"{provider_name}: {what}", host, port) for what, host, port in self.endpoints(provider)]

    def ready(self, loaded: LoadedSite, provider_name: str, provider: P) -> list[Finding]:
        """What must hold before Terraform acts on this provider block's machines; ``up`` refuses (exit 4,
        naming each fix) while a finding blocks, before anything is made. Quick, local checks only (a remote
        endpoint that does not answer is Terraform's to report): none by default."""
        return []

    def snapshots_of(self, loaded: LoadedSite, provider_name: str, provider: P, node: str) -> list[str] | None:
        """The snapshot names ``node`` has now, asked of the platform; None when the target cannot tell."""
        return None

    def revert_snapshot(self, loaded: LoadedSite, provider_name: str, provider: P, node: str, name: str) -> None:
        """Put ``node`` back to its snapshot ``name`` (targets with a ``snapshot_resource``)."""
        raise UsageError(f"{node}: target {self.name} has no snapshots")

    def bmc_nodes(self, pool: Q) -> list[str]:
        """The pool's nodes whose power ``kprov power`` can drive."""
        return []


def host_port(address: str, default_port: int) -> tuple[str, int]:
    """``https://host:port/path``, ``host:port`` or ``host`` as (host, port)."""
    parsed = urllib.parse.urlsplit(address if "://" in address else f"//{address}")
    return parsed.hostname or address, parsed.port or default_port


def zone_label(zone: str | None) -> dict[str, str]:
    """A pool's ``zone`` as the well-known topology label the scheduler spreads by."""
    return {"topology.kubernetes.io/zone": zone} if zone else {}
