"""The ``pxe`` stage the baremetal target adds before ``infra``: ``playbooks/pxe-server.yml`` on every PXE
server kprov manages, with Kubespray's Ansible, before any machine boots from it."""

from __future__ import annotations

from typing import Any

from kprov import inventory
from kprov.engine.fingerprint import file_digest, fingerprint
from kprov.engine.stage import Session, Stage
from kprov.engine.workdir import private_dir, write_atomic
from kprov.paths import asset_dir
from kprov.site.load import LoadedSite
from kprov.site.secrets import referenced_env
from kprov.targets.baremetal.model import BaremetalProvider
from kprov.tools import ansible
from kprov.tools.ansible import PlaybookResult


def pxe_servers(loaded: LoadedSite) -> dict[str, BaremetalProvider]:
    """Bare-metal provider blocks by name (each names its PXE server)."""
    return {name: p for name, p in loaded.site.providers.items() if isinstance(p, BaremetalProvider)}


def pxe_inventory(loaded: LoadedSite) -> dict[str, Any]:
    """Inventory for ``playbooks/pxe-server.yml``: one host per PXE server kprov manages."""
    site = loaded.site
    net = site.network.cidr
    hosts: dict[str, Any] = {}
    for name, p in pxe_servers(loaded).items():
        pxe = p.pxe
        if not pxe.manage:
            continue
        user = pxe.ssh_user or site.ssh.user
        hv: dict[str, Any] = {
            "ansible_host": pxe.host, "ansible_user": user, "ansible_port": site.ssh.port,
            "kprov_pxe_interface": pxe.interface, "kprov_pxe_http_port": pxe.http_port,
            "kprov_pxe_dhcp_mode": pxe.dhcp.mode, "kprov_pxe_publishers": [] if user == "root" else [user],
        }
        if pxe.dhcp.mode == "full":
            assert pxe.dhcp.range is not None
            hv.update({"kprov_pxe_dhcp_range": [str(a) for a in pxe.dhcp.range],
                       "kprov_pxe_dhcp_netmask": str(net.netmask), "kprov_pxe_dhcp_lease": pxe.dhcp.lease})
            if site.network.gateway:
                hv["kprov_pxe_dhcp_router"] = str(site.network.gateway)
            if site.network.dns:
                hv["kprov_pxe_dhcp_dns"] = [str(d) for d in site.network.dns]
        else:
            hv["kprov_pxe_proxy_subnet"] = str(net.network_address)
        hosts[f"pxe-{name.replace('_', '-')}"] = hv
    return {"all": {"children": {"pxe_server": {"hosts": hosts}}}} if hosts else {}


class PxeStage(Stage):
    name = "pxe"

    def _hosts(self, session: Session) -> list[str]:
        data = pxe_inventory(session.loaded)
        return sorted(data["all"]["children"]["pxe_server"]["hosts"]) if data else []

    def skip_reason(self, session: Session) -> str | None:
        return None if self._hosts(session) else ""

    def describe(self, session: Session) -> str:
        return f"PXE server(s) {', '.join(self._hosts(session))} (playbooks/pxe-server.yml)"

    def fingerprint(self, session: Session) -> str:
        return fingerprint(pxe_inventory(session.loaded), file_digest(asset_dir("playbooks")),
                           session.kubespray().commit())

    def run(self, session: Session) -> PlaybookResult:
        inv = session.workdir.inventory / "pxe-servers.yaml"
        private_dir(inv.parent)
        write_atomic(inv, inventory.dump(inventory.unsafe(pxe_inventory(session.loaded))))
        result = ansible.run_playbook(
            session.kubespray(), "pxe-server.yml", inventory_file=inv, ssh_config=session.ssh_config([]),
            run_dir=session.run_dir, events=session.events, stage=self.name, fact_cache=session.workdir.fact_cache,
            secret_env=referenced_env(session.site), project=asset_dir("playbooks"))
        result.raise_for_failure()
        return result
