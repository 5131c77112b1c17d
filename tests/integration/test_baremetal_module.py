"""The baremetal Terraform module with real Terraform: it validates offline (it needs no provider), and a
real apply runs kprov.targets.baremetal.machine through local-exec — here against a PXE server that does not
answer, so the failure must come back as kprov's exit 4 naming the machine and the server, with the BMC secret
nowhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

SECRET = "bmc-Secret-for-module-test-41"


def _site(tmp_path: Path) -> Path:
    (tmp_path / "id").write_text("not a real key\n")
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKeyOnlyForRendering t\n")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": "metal"},
        "kubernetes": {"version": "1.35.4", "kubespray": {"version": "v2.31.0"}},
        "ssh": {"user": "root", "private_key": "id", "public_key": "id.pub", "port": 1},
        "network": {"cidr": "127.0.0.0/8"},
        "providers": {"rack": {"type": "baremetal",
                               "pxe": {"host": "127.0.0.1", "manage": False, "dhcp": {"mode": "proxy"}},
                               "os": {"kind": "live", "kernel": "media/vmlinuz", "initrd": "media/initrd.img"}}},
        "pools": {"metal": {"provider": "rack", "roles": ["control_plane", "etcd", "worker"], "machines": [
            {"name": "bm-01", "mac": "52:54:00:aa:bb:01", "ip": "127.0.0.50",
             "bmc": {"driver": "redfish", "address": "http://127.0.0.1:1", "user": "admin",
                     "password": {"env": "KPROV_TEST_BMC_PW"}}}]}},
    }))
    return site


def _kprov(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KPROV_TEST_BMC_PW": SECRET}
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300, check=False)


def test_module_validates_offline(tmp_path: Path) -> None:
    site = _site(tmp_path)
    assert _kprov("render", str(site), cwd=tmp_path).returncode == 0
    tf = tmp_path / ".kprov" / "metal" / "terraform"
    for argv in (["init", "-backend=false", "-input=false", "-no-color"], ["validate", "-json"]):
        proc = subprocess.run(["terraform", *argv], cwd=tf, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["valid"] is True


def test_apply_runs_kprov_machine_and_reports_an_unreachable_pxe_server(tmp_path: Path) -> None:
    site = _site(tmp_path)
    up = _kprov("up", str(site), cwd=tmp_path)
    assert up.returncode == 4, up.stderr
    assert "publishing boot files of bm-01 on 127.0.0.1" in up.stderr
    assert "Traceback" not in up.stderr
    workdir = tmp_path / ".kprov" / "metal"
    assert (workdir / "terraform" / "boot" / "bm-01" / "boot.ipxe").is_file()
    for path in workdir.rglob("*"):
        if path.is_file() and not path.is_socket():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in up.stdout + up.stderr


RECORDER = """#!/bin/sh
# Stands in for kprov's Python in the module's provisioners: records "ACTION NAME" instead of acting.
name=$(printf '%s' "$KPROV_MACHINE" | "{python}" -c 'import json, sys; print(json.load(sys.stdin)["name"])')
echo "$3 $name" >> "{log}"
"""


def test_what_replaces_what_a_new_key_republishes_a_new_disk_or_os_reinstalls(tmp_path: Path) -> None:
    """Real Terraform plans and applies of the module, with kprov.targets.baremetal.machine replaced by a recorder:
    the order and kind of the actions kprov would take on the machine for each change of the site."""
    site = _site(tmp_path)
    log = tmp_path / "actions.log"
    recorder = tmp_path / "recorder"
    recorder.write_text(RECORDER.format(python=sys.executable, log=log))
    recorder.chmod(0o755)
    tf = tmp_path / ".kprov" / "metal" / "terraform"
    env = {**os.environ, "KPROV_PYTHON": str(recorder)}

    def render_and_apply(*extra: str) -> list[str]:
        log.write_text("")
        assert _kprov("render", str(site), cwd=tmp_path).returncode == 0
        for argv in (["init", "-input=false", "-no-color"], ["apply", "-auto-approve", "-input=false", "-no-color",
                                                             "-parallelism=1", *extra]):
            proc = subprocess.run(["terraform", *argv], cwd=tf, env=env, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return log.read_text().splitlines()

    assert render_and_apply() == ["publish bm-01", "install bm-01"]
    assert render_and_apply() == []  # nothing changed, nothing done
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovOtherKeyOnlyForRenderingX t\n")
    assert render_and_apply() == ["unpublish bm-01", "publish bm-01"]  # new boot files, no reinstall
    data = yaml.safe_load(site.read_text())
    data["pools"]["metal"]["machines"][0]["disk"] = "/dev/disk/by-path/pci-0000:00:1f.2-ata-2"
    site.write_text(yaml.safe_dump(data))
    assert render_and_apply() == ["power-off bm-01", "install bm-01"]  # (a live OS's files do not name the disk)
    data["providers"]["rack"]["os"]["cmdline"] = ["console=ttyS0,115200n8"]
    site.write_text(yaml.safe_dump(data))
    actions = render_and_apply()  # a new OS: new boot files, and installed again once they are published
    assert sorted(actions) == ["install bm-01", "power-off bm-01", "publish bm-01", "unpublish bm-01"]
    assert actions.index("power-off bm-01") < actions.index("install bm-01")
    assert actions.index("publish bm-01") < actions.index("install bm-01")
    assert render_and_apply("-destroy") == ["power-off bm-01", "unpublish bm-01"]
