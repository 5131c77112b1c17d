"""Boot files of a bare-metal machine: its iPXE script and the install configuration the installer reads.

Per machine kprov renders ``boot.ipxe`` (served by TFTP only to that machine's own MAC: the PXE server's dnsmasq
picks the file by the MAC it sees, see ``playbooks/roles/pxe_server``) and a seed under ``seed/`` (served over
HTTP at ``/machines/<name>/``):

* ``autoinstall`` — Ubuntu's installer: NoCloud ``user-data`` with an ``autoinstall:`` section, ``meta-data``;
* ``kickstart`` — Rocky/Alma/RHEL: ``ks.cfg``;
* ``image`` — a live installer environment with cloud-init writes a disk image, then points the installed
  system's cloud-init at ``seed/installed/``;
* ``live`` — the booted system runs from memory and configures itself from the NoCloud seed.

YAML files are built as data and dumped; iPXE and kickstart files come from templates in
``templates/terraform/baremetal/boot/`` that see only values already checked against strict patterns (the site
schema, plus :func:`public_key` here).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shlex
from typing import Any

import jinja2
import yaml

from kprov import __version__
from kprov.errors import UsageError
from kprov.paths import asset_dir
from kprov.targets.baremetal.model import BaremetalProvider, Machine
from kprov.targets.base import SiteContext

_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+=*( .*)?$")


def public_key(text: str) -> str:
    """The SSH public key as ``type base64`` (its comment dropped: it is free text and needed nowhere)."""
    line = text.strip()
    if "\n" in line or not _KEY.match(line):
        raise UsageError("ssh public key: expected one OpenSSH public key line (type, base64, comment)")
    kind, body = line.split()[:2]
    return f"{kind} {body}"


def _jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(asset_dir("templates") / "terraform" / "baremetal" / "boot")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - iPXE and kickstart, not HTML; values are pattern-checked
    )
    env.filters["shquote"] = shlex.quote
    return env


def _dump(data: Any, header: str = "") -> str:
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def seed_url(provider: BaremetalProvider, machine: Machine) -> str:
    return f"http://{provider.pxe.boot_address}:{provider.pxe.http_port}/machines/{machine.name}/"


def _disk(machine: Machine, provider: BaremetalProvider) -> str:
    return machine.disk or provider.disk


def network_config(machine: Machine, ctx: SiteContext) -> dict[str, Any]:
    """netplan v2, as cloud-init and Ubuntu's installer read it: the static address on the NIC with the MAC."""
    net = ctx.network
    nic: dict[str, Any] = {"match": {"macaddress": machine.mac}, "addresses": [f"{machine.ip}/{net.prefix_length}"]}
    if net.gateway:
        nic["routes"] = [{"to": "default", "via": net.gateway}]
    if net.dns or net.domain:
        ns: dict[str, Any] = {}
        if net.dns:
            ns["addresses"] = list(net.dns)
        if net.domain:
            ns["search"] = [net.domain]
        nic["nameservers"] = ns
    return {"version": 2, "ethernets": {"nic0": nic}}


def system_config(machine: Machine, ctx: SiteContext, key: str) -> dict[str, Any]:
    """cloud-config for the machine's own system: hostname, the SSH user with the site's key, no passwords."""
    user: dict[str, Any] = {"name": ctx.ssh.user, "ssh_authorized_keys": [key]}
    if ctx.ssh.user != "root":
        user.update({"sudo": "ALL=(ALL) NOPASSWD:ALL", "shell": "/bin/bash", "lock_passwd": True})
    config: dict[str, Any] = {"hostname": machine.name}
    if ctx.network.domain:
        config["fqdn"] = f"{machine.name}.{ctx.network.domain}"
    config.update({"preserve_hostname": False, "manage_etc_hosts": True, "users": [user], "ssh_pwauth": False,
                   "disable_root": ctx.ssh.user != "root"})
    return config


def _nocloud(machine: Machine, ctx: SiteContext, user_data: dict[str, Any],
             network: dict[str, Any] | None) -> dict[str, str]:
    files = {"user-data": _dump(user_data, "#cloud-config\n")}
    if network is not None:
        files["network-config"] = _dump(network)
    # A new instance-id when the configuration changes makes cloud-init apply it again.
    digest = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:12]
    files["meta-data"] = _dump({"instance-id": f"kprov-{machine.name}-{digest}", "local-hostname": machine.name})
    return files


def seed_files(machine: Machine, provider: BaremetalProvider, ctx: SiteContext) -> dict[str, str]:
    """The files under ``seed/`` for the machine's OS kind, by relative path."""
    key = public_key(ctx.ssh.public_key)
    kind = provider.os.kind
    system = system_config(machine, ctx, key)
    net = network_config(machine, ctx)
    if kind == "live":
        return _nocloud(machine, ctx, system, net)
    if kind == "image":
        installed = _nocloud(machine, ctx, system, net)
        script = (asset_dir("templates") / "terraform" / "baremetal" / "boot" / "image-install.sh").read_text()
        installer = {
            "write_files": [{"path": "/run/kprov/image-install", "permissions": "0755", "content": script}],
            # argv form: no shell parses the image URL, the disk or the seed URL
            "runcmd": [["/run/kprov/image-install", provider.pxe.url(str(provider.os.image)),
                        _disk(machine, provider), seed_url(provider, machine) + "installed/"]],
        }
        files = _nocloud(machine, ctx, installer, None)
        return {**files, **{f"installed/{k}": v for k, v in installed.items()}}
    if kind == "autoinstall":
        auto = {
            "version": 1,
            "refresh-installer": {"update": False},
            "network": net,
            "ssh": {"install-server": True, "allow-pw": False, "authorized-keys": [key]},
            "storage": {"layout": {"name": "direct", "match": {"path": _disk(machine, provider)}}},
            "user-data": system,
            "shutdown": "poweroff",  # kprov then disarms the installer and powers on
        }
        files = _nocloud(machine, ctx, {"autoinstall": auto}, None)
        files["vendor-data"] = ""
        return files
    return {"ks.cfg": kickstart(machine, provider, ctx, key)}


def kickstart(machine: Machine, provider: BaremetalProvider, ctx: SiteContext, key: str) -> str:
    disk = _disk(machine, provider).removeprefix("/dev/")
    net = ctx.network
    netmask = str(ipaddress.IPv4Network(f"0.0.0.0/{net.prefix_length}").netmask)
    return _jinja().get_template("kickstart.cfg.j2").render(
        version=__version__, m=machine, netmask=netmask, gateway=net.gateway, dns=list(net.dns), disk=disk,
        user=ctx.ssh.user, key=key, hostname=f"{machine.name}.{net.domain}" if net.domain else machine.name)


def kernel_args(machine: Machine, provider: BaremetalProvider) -> list[str]:
    os_ = provider.os
    seed = seed_url(provider, machine)
    args = {
        "live": [f"ds=nocloud;s={seed}"],
        "image": ["ip=dhcp", f"ds=nocloud;s={seed}"],
        "autoinstall": ["ip=dhcp", f"url={provider.pxe.url(str(os_.iso))}", "autoinstall",
                        f"ds=nocloud-net;s={seed}", "cloud-config-url=/dev/null"],
        "kickstart": [f"inst.repo={provider.pxe.url(str(os_.repo))}", f"inst.ks={seed}ks.cfg", "ip=dhcp",
                      "inst.text"],
    }[os_.kind]
    return args + list(os_.cmdline)


def ipxe_script(machine: Machine, provider: BaremetalProvider) -> str:
    initrd = provider.pxe.url(provider.os.initrd)
    return _jinja().get_template("boot.ipxe.j2").render(
        version=__version__, m=machine, kind=provider.os.kind, kernel=provider.pxe.url(provider.os.kernel),
        initrd=initrd, initrd_name=initrd.rsplit("/", 1)[-1], args=kernel_args(machine, provider))


def files(machine: Machine, provider: BaremetalProvider, ctx: SiteContext) -> dict[str, str]:
    """Every boot file of one machine, by path relative to its boot folder."""
    out = {"boot.ipxe": ipxe_script(machine, provider)}
    out.update({f"seed/{k}": v for k, v in seed_files(machine, provider, ctx).items()})
    return out


def digest(tree: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()


def machine_settings(machine: Machine, provider: BaremetalProvider, ctx: SiteContext) -> dict[str, Any]:
    """What the Terraform module keeps for one machine. No secret: BMC credentials stay references."""
    os_ = provider.os.model_dump(mode="json", exclude_none=True)
    return {
        "mac": machine.mac,
        "ip": str(machine.ip),
        "disk": _disk(machine, provider),
        "os": provider.os.kind,
        # A change to any of these means the machine is installed again (the resource is replaced).
        "install": {"mac": machine.mac, "disk": _disk(machine, provider),
                    "os": hashlib.sha256(json.dumps(os_, sort_keys=True).encode()).hexdigest()},
        "boot_files": digest(files(machine, provider, ctx)),
        # Installers power the machine off when done; live systems are never "done".
        "wait_for_installer": 0 if provider.os.kind == "live" else provider.os.timeout,
        "pxe": {"host": provider.pxe.host, "user": provider.pxe.ssh_user or ctx.ssh.user,
                "dhcp": provider.pxe.dhcp.mode},
        "bmc": machine.bmc.module_data(),
    }
