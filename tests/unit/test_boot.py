"""Boot files of bare-metal machines: golden iPXE / autoinstall / kickstart / image / live renders, the values
they must carry, and that BMC secrets reach none of kprov's rendered files.

Refresh the golden files with KPROV_UPDATE_GOLDEN=1 after a deliberate change, and read the diff."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.engine.workdir import Workdir
from kprov.errors import UsageError
from kprov.render import render, tfvars
from kprov.site.load import load_site
from kprov.targets.baremetal import boot

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "boot"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering someone@example\n"
SECRET = "Sup3r-S3cret-BMC-pw"
FILE_SECRET = "file-Secret-7f3a"

OS = {
    "autoinstall": {"kind": "autoinstall", "kernel": "media/ubuntu-24.04/vmlinuz",
                    "initrd": "media/ubuntu-24.04/initrd", "iso": "media/ubuntu-24.04/live-server.iso",
                    "cmdline": ["console=ttyS0,115200n8"]},
    "kickstart": {"kind": "kickstart", "kernel": "http://mirror.example/rocky/9/BaseOS/x86_64/os/images/pxeboot/vmlinuz",
                  "initrd": "http://mirror.example/rocky/9/BaseOS/x86_64/os/images/pxeboot/initrd.img",
                  "repo": "http://mirror.example/rocky/9/BaseOS/x86_64/os"},
    "image": {"kind": "image", "kernel": "media/installer/vmlinuz", "initrd": "media/installer/initrd.img",
              "image": "media/images/ubuntu-24.04-k8s.raw.zst"},
    "live": {"kind": "live", "kernel": "media/live/vmlinuz", "initrd": "media/live/initrd.img",
             "cmdline": ["console=ttyS0"]},
}


def _site(tmp_path: Path, os_: dict[str, Any], user: str = "kprov", dhcp: dict[str, Any] | None = None) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "id.pub").write_text(PUBKEY)
    (tmp_path / "bmc.pw").write_text(FILE_SECRET + "\n")
    data = {
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "metal"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"version": "v2.31.0"}},
        "ssh": {"user": user, "private_key": "id", "public_key": "id.pub"},
        "network": {"cidr": "192.168.10.0/24", "gateway": "192.168.10.1", "dns": ["192.168.10.1"],
                    "domain": "dc1.example"},
        "providers": {"rack": {
            "type": "baremetal",
            "pxe": {"host": "192.168.10.5", "interface": "eth1",
                    "dhcp": dhcp or {"mode": "full", "range": ["192.168.10.200", "192.168.10.220"]}},
            "os": os_, "disk": "/dev/sda"}},
        "pools": {"metal": {"provider": "rack", "roles": ["control_plane", "etcd", "worker"], "machines": [
            {"name": "bm-01", "mac": "3C:EC:EF:10:00:01", "ip": "192.168.10.31",
             "disk": "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:2:0:0",
             "bmc": {"driver": "redfish", "address": "https://10.0.0.31", "user": "admin",
                     "password": {"env": "KPROV_TEST_BMC_PASSWORD"}}},
            {"name": "bm-02", "mac": "3c:ec:ef:10:00:02", "ip": "192.168.10.32",
             "bmc": {"driver": "ipmi", "address": "10.0.0.32", "user": {"env": "KPROV_TEST_BMC_USER"},
                     "password": {"file": "bmc.pw"}}},
            {"name": "bm-03", "mac": "3c:ec:ef:10:00:03", "ip": "192.168.10.33",
             "bmc": {"driver": "ipmi", "address": "10.0.0.33", "user": "admin", "password": {"file": "bmc.pw"}}},
        ]}},
    }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def _bmc_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROV_TEST_BMC_PASSWORD", SECRET)
    monkeypatch.setenv("KPROV_TEST_BMC_USER", "operator")


def _rendered(tmp_path: Path, kind: str, **kw: Any) -> tuple[Workdir, dict[str, str]]:
    loaded = load_site(_site(tmp_path, OS[kind], **kw))
    workdir = Workdir.for_site(loaded.source, loaded.name)
    render(loaded, workdir)
    root = workdir.terraform / "boot" / "bm-01"
    return workdir, {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", sorted(OS))
def test_boot_files_match_golden(kind: str, tmp_path: Path) -> None:
    _, files = _rendered(tmp_path, kind)
    folder = GOLDEN / kind
    if os.environ.get("KPROV_UPDATE_GOLDEN"):
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
    want = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert set(files) == want
    for rel, text in files.items():
        assert text == (folder / rel).read_text(), f"{kind}/{rel} differs from its golden file"


@pytest.mark.parametrize("kind", sorted(OS))
def test_every_kind_carries_the_machine_and_the_key(kind: str, tmp_path: Path) -> None:
    _, files = _rendered(tmp_path, kind)
    ipxe = files["boot.ipxe"]
    assert ipxe.startswith("#!ipxe\n") and "3c:ec:ef:10:00:01" in ipxe  # the MAC normalised
    kernel_line = next(line for line in ipxe.splitlines() if line.startswith("kernel "))
    assert "$" not in kernel_line  # nothing for iPXE to expand
    assert "http://192.168.10.5:8080/machines/bm-01/" in kernel_line
    everything = "".join(files.values())
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering"
    assert key in everything and "someone@example" not in everything  # the key's comment is dropped
    assert "192.168.10.31" in everything
    for rel, text in files.items():
        if rel.endswith(("user-data", "network-config", "meta-data")) and text:
            yaml.safe_load(text)  # well-formed YAML


def test_disk_and_network_reach_each_installer(tmp_path: Path) -> None:
    _, auto = _rendered(tmp_path / "a", "autoinstall")
    data = yaml.safe_load(auto["seed/user-data"])["autoinstall"]
    assert data["storage"]["layout"]["match"] == {"path": "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:2:0:0"}
    assert data["network"]["ethernets"]["nic0"]["addresses"] == ["192.168.10.31/24"]
    assert data["user-data"]["users"][0]["name"] == "kprov"
    _, ks = _rendered(tmp_path / "k", "kickstart")
    assert "ignoredisk --only-use=disk/by-path/pci-0000:18:00.0-scsi-0:2:0:0" in ks["seed/ks.cfg"]
    assert "--ip=192.168.10.31 --netmask=255.255.255.0 --gateway=192.168.10.1" in ks["seed/ks.cfg"]
    _, image = _rendered(tmp_path / "i", "image")
    runcmd = yaml.safe_load(image["seed/user-data"])["runcmd"]
    assert runcmd == [["/run/kprov/image-install", "http://192.168.10.5:8080/media/images/ubuntu-24.04-k8s.raw.zst",
                       "/dev/disk/by-path/pci-0000:18:00.0-scsi-0:2:0:0",
                       "http://192.168.10.5:8080/machines/bm-01/installed/"]]
    assert yaml.safe_load(image["seed/installed/user-data"])["hostname"] == "bm-01"


def test_root_gets_the_key_without_sudo(tmp_path: Path) -> None:
    _, files = _rendered(tmp_path, "live", user="root")
    config = yaml.safe_load(files["seed/user-data"])
    assert config["users"] == [{"name": "root", "ssh_authorized_keys": [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering"]}]
    assert config["disable_root"] is False


def test_bmc_secrets_are_in_no_rendered_file(tmp_path: Path) -> None:
    workdir, _ = _rendered(tmp_path, "image")
    written = [p for p in workdir.root.rglob("*") if p.is_file()]
    assert any(p.name == "kprov.auto.tfvars.json" for p in written)
    for path in written:
        text = path.read_bytes()
        assert SECRET.encode() not in text, path
        assert FILE_SECRET.encode() not in text, path
    tfvars = json.loads((workdir.terraform / "kprov.auto.tfvars.json").read_text())
    bmc = tfvars["pools"]["rack"]["metal"]["settings"]["machines"]["bm-02"]["bmc"]
    assert bmc["user"] == {"env": "KPROV_TEST_BMC_USER"} and bmc["password"] == {"file": "bmc.pw"}


def test_proxy_mode_and_boot_digest_moves_with_the_files(tmp_path: Path) -> None:
    loaded = load_site(_site(tmp_path / "a", OS["live"], dhcp={"mode": "proxy"}))
    one = tfvars(loaded)["pools"]["rack"]["metal"]["settings"]["machines"]["bm-01"]
    assert one["pxe"] == {"host": "192.168.10.5", "user": "kprov", "dhcp": "proxy"}
    (tmp_path / "a" / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAnotherKeyForTheDigestTest x\n")
    two = tfvars(load_site(tmp_path / "a" / "site.yaml"))["pools"]["rack"]["metal"]["settings"]["machines"]["bm-01"]
    assert two["boot_files"] != one["boot_files"]  # re-published ...
    assert two["install"] == one["install"]  # ... but not reinstalled


def test_a_public_key_that_is_not_one_is_refused() -> None:
    with pytest.raises(UsageError):
        boot.public_key("ssh-ed25519 AAAA\nssh-rsa BBBB")
    with pytest.raises(UsageError):
        boot.public_key('ssh-ed25519 AAAA"; reboot')
