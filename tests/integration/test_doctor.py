"""``kprov doctor``: each missing piece named with its fix, exit 4 while one blocks, nothing when all is there.
Endpoints are on loopback only: a port nobody listens on, then a listener the test opens."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kprov import api
from kprov.errors import InfrastructureError
from kprov.exitcodes import ExitCode
from tests.conftest import STANDIN, site_data
from tests.redfish_emulator import free_port

SECRET = "vc-secret-8d1f"


def _kprov(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=120, env=env)


@pytest.fixture
def vsphere_site(tmp_path: Path) -> tuple[Path, int]:
    """A vSphere site whose vCenter is a loopback port nobody listens on yet, its password unset, no public key."""
    port = free_port()
    data = site_data()
    data["ssh"] = {"user": "root", "private_key": "id", "public_key": "id.pub"}
    data["providers"] = {"vc": {"type": "vsphere", "server": f"127.0.0.1:{port}", "user": "ops",
                                "password": {"env": "KPROV_TEST_VC_PW"}, "datacenter": "DC1", "cluster": "C1",
                                "datastore": "ds", "network": "k8s", "template": "tpl"}}
    data["pools"] = {"cp": {"provider": "vc", "roles": ["control_plane", "etcd", "worker"], "count": 1,
                            "ip_start": "192.168.77.10"}}
    (tmp_path / "id").write_text("not a real key\n")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    return site, port


def test_without_a_site_it_checks_this_machines_tools() -> None:
    findings = {f.check: f for f in api.doctor()}
    assert set(findings) == {"python", "terraform", "ssh", "git"}
    assert all(f.ok for f in findings.values())
    assert findings["terraform"].message.startswith(("Terraform 1.", "OpenTofu 1."))


def test_a_static_site_with_everything_in_place_passes(write_site) -> None:  # type: ignore[no-untyped-def]
    findings = {f.check: f for f in api.doctor(write_site())}
    assert findings["kubespray"].ok and str(STANDIN) in findings["kubespray"].message
    assert findings["ssh private key"].ok and "ssh public key" not in findings
    assert all(f.ok for f in findings.values())


def test_each_missing_piece_is_named_with_its_fix_until_all_are_there(vsphere_site: tuple[Path, int],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    site, port = vsphere_site
    monkeypatch.delenv("KPROV_TEST_VC_PW", raising=False)
    with pytest.raises(InfrastructureError) as info:
        api.doctor(site)
    assert info.value.exit_code == ExitCode.INFRASTRUCTURE
    text = str(info.value)
    assert "secret env KPROV_TEST_VC_PW: export KPROV_TEST_VC_PW=..." in text
    assert f"ssh public key: create it: ssh-keygen -t ed25519 -f {site.parent / 'id'}" in text
    assert f"vc: vCenter: check the address, DNS and firewall between this machine and 127.0.0.1:{port}" in text
    assert "ssh private key" not in text
    # put each piece in place: the doctor is satisfied
    monkeypatch.setenv("KPROV_TEST_VC_PW", SECRET)
    (site.parent / "id.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKprovTestKey doctor\n")
    with socket.create_server(("127.0.0.1", port)):
        findings = {f.check: f for f in api.doctor(site)}
    assert findings["vc: vCenter"].ok and findings["secret env KPROV_TEST_VC_PW"].message == "set"
    assert not [f for f in findings.values() if not f.ok]


def test_the_cli_prints_a_table_and_json_exits_4_and_never_shows_a_secret(vsphere_site: tuple[Path, int]) -> None:
    site, _ = vsphere_site
    env = {**os.environ, "KPROV_TEST_VC_PW": SECRET, "PATH": "/usr/bin:/bin"}  # no terraform on this PATH
    proc = _kprov("-o", "json", "doctor", str(site), env=env)
    assert proc.returncode == ExitCode.INFRASTRUCTURE, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    (table,) = [e for e in events if e["event"] == "table"]
    assert table["data"]["columns"] == ["check", "result", "found", "fix"]
    result = events[-1]
    assert result["event"] == "result" and result["stage"] == "doctor"
    blocking = {f["check"]: f["fix"] for f in result["data"]["findings"] if f["blocking"]}
    assert blocking["terraform"] == "install Terraform >= 1.5 or OpenTofu >= 1.6 on PATH"
    assert "secret env KPROV_TEST_VC_PW" not in blocking
    assert SECRET not in proc.stdout + proc.stderr
    assert not (site.parent / ".kprov").exists()
