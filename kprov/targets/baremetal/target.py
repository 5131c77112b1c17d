"""The ``baremetal`` target plug-in: its pools, checks and module data, the PXE server stage it runs before
Terraform, the environment its module's provisioners need, and ``kprov power`` for its machines."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from kprov.targets.baremetal import boot
from kprov.targets.baremetal.model import BaremetalPool, BaremetalProvider
from kprov.targets.base import Loc, SiteContext
from kprov.targets.machines import MachineTarget

if TYPE_CHECKING:
    from kprov.doctor import Finding
    from kprov.engine.stage import Session, Stage
    from kprov.site.load import LoadedSite


class Baremetal(MachineTarget[BaremetalProvider, BaremetalPool]):
    name = "baremetal"
    needs_public_key = True

    def check(self, pool_name: str, pool: BaremetalPool, provider: BaremetalProvider) -> list[tuple[Loc, str]]:
        problems: list[tuple[Loc, str]] = []  # duplicate MACs are a site-wide check (kprov.site.meaning)
        for i, m in enumerate(pool.machines):
            if provider.pxe.dhcp.range and provider.pxe.dhcp.range[0] <= m.ip <= provider.pxe.dhcp.range[1]:
                problems.append((("machines", i, "ip"), f"{m.ip} is inside the PXE DHCP range "
                                 f"{provider.pxe.dhcp.range[0]}-{provider.pxe.dhcp.range[1]}: another machine "
                                 "could lease it while installing"))
        return problems

    def settings(self, pool_name: str, pool: BaremetalPool, provider: BaremetalProvider,
                 ctx: SiteContext) -> dict[str, Any]:
        return {"machines": {m.name: boot.machine_settings(m, provider, ctx) for m in pool.machines}}

    def files(self, pool_name: str, pool: BaremetalPool, provider: BaremetalProvider,
              ctx: SiteContext) -> dict[str, str]:
        return {f"boot/{m.name}/{rel}": text for m in pool.machines
                for rel, text in boot.files(m, provider, ctx).items()}

    def boot_timeout(self, provider: BaremetalProvider) -> int:
        return provider.os.timeout

    def stages_before_infra(self, loaded: LoadedSite) -> list[Stage]:
        from kprov.targets.baremetal.pxe import PxeStage  # noqa: PLC0415 - needs the engine, only for `up`

        return [PxeStage()]

    def terraform_environment(self, session: Session) -> dict[str, str]:
        # The module's provisioners run `python -m kprov.targets.baremetal.machine` with this interpreter, reach
        # the PXE server through the site's ssh_config, and forget host keys of reinstalled machines.
        return {"KPROV_PYTHON": sys.executable, "KPROV_SSH_CONFIG": str(session.ssh_config([])),
                "KPROV_KNOWN_HOSTS": str(session.workdir.known_hosts),
                "KPROV_SITE_DIR": str(session.loaded.base_dir)}

    def doctor(self, loaded: LoadedSite, provider_name: str, provider: BaremetalProvider) -> list[Finding]:
        from kprov.doctor import reachable  # noqa: PLC0415

        return [reachable(f"{provider_name}: PXE server (ssh)", provider.pxe.host, loaded.site.ssh.port)]

    def bmc_nodes(self, pool: BaremetalPool) -> list[str]:
        return [m.name for m in pool.machines]

    def power(self, loaded: LoadedSite, node: str, action: str) -> str:
        from kprov.targets.baremetal import machine  # noqa: PLC0415

        return str(machine.power_node(loaded, node, action))  # type: ignore[arg-type]  # the CLI checked it
