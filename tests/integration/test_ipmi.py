"""kprov.targets.baremetal.bmc over real IPMI: pyghmi's BMC server (``tests/integration/ipmi_bmc.py``) on a
loopback UDP port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kprov.targets.baremetal.bmc import BmcAccess, BmcError, Power, connect, ipmi_target, wait_for
from tests.conftest import write_metal_site
from tests.integration.conftest import run_machine
from tests.redfish_emulator import free_port

PASSWORD = "ipmi-pw-5c1f7a"


class FakeIpmi:
    def __init__(self, address: str, state: Path) -> None:
        self.address, self.state_file = address, state

    @property
    def state(self) -> dict[str, Any]:
        return dict(json.loads(self.state_file.read_text()))


@pytest.fixture
def ipmi(tmp_path: Path) -> Iterator[FakeIpmi]:
    port = free_port(socket.SOCK_DGRAM)
    state = tmp_path / "bmc-state.json"
    log = (tmp_path / "bmc.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "tests.integration.ipmi_bmc", "--port", str(port), "--user",
                             "admin", "--state", str(state)], stdout=log, stderr=log, start_new_session=True,
                            env={**os.environ, "KPROV_FAKE_BMC_PASSWORD": PASSWORD})
    deadline = time.monotonic() + 30
    while not state.exists():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "bmc.log").read_text()
        time.sleep(0.1)
    yield FakeIpmi(f"127.0.0.1:{port}", state)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def test_ipmi_target_defaults_to_port_623() -> None:
    assert ipmi_target("10.0.0.21") == ("10.0.0.21", 623)
    assert ipmi_target("bmc-07.rack") == ("bmc-07.rack", 623)
    assert ipmi_target("127.0.0.1:6231") == ("127.0.0.1", 6231)
    assert ipmi_target("[fd00::21]:6230") == ("fd00::21", 6230)
    for bad in ("10.0.0.21:70000", "10.0.0.21:0", ":623"):
        with pytest.raises(ValueError):
            ipmi_target(bad)


def test_power_and_pxe_once_over_ipmi(ipmi: FakeIpmi) -> None:
    bmc = connect(BmcAccess("ipmi", ipmi.address, "admin", PASSWORD))
    assert bmc.power() == Power.OFF
    bmc.pxe_once()
    assert ipmi.state["bootdev"] == "network" and ipmi.state["persistent"] is False
    bmc.power_cycle()  # off: "boot" powers on
    wait_for(bmc, Power.ON, timeout=30, interval=0.5)
    bmc.power_cycle()  # on: "boot" resets
    bmc.power_off()
    assert bmc.power() == Power.OFF
    assert ipmi.state["actions"] == ["on", "reset", "off"]


def test_a_wrong_ipmi_password_is_an_error_without_the_password(ipmi: FakeIpmi) -> None:
    wrong = "nope-" + PASSWORD
    with pytest.raises(BmcError) as info:
        connect(BmcAccess("ipmi", ipmi.address, "admin", wrong)).power()
    assert ipmi.address in str(info.value) and wrong not in str(info.value)
    assert ipmi.state["actions"] == []


def test_kprov_power_and_machine_install_over_ipmi(ipmi: FakeIpmi, tmp_path: Path,
                                                   pxe_server: dict[str, str]) -> None:
    (tmp_path / "bmc-password").write_text(PASSWORD + "\n")
    bmc = {"driver": "ipmi", "address": ipmi.address, "user": "admin", "password": {"file": "bmc-password"}}
    site = write_metal_site(tmp_path, bmc)

    def kprov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True,
                              timeout=120, check=False, cwd=tmp_path)

    on = kprov("-o", "json", "power", str(site), "bm-01", "on")
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout.splitlines()[-1])["data"]["power"] == "on"
    off = kprov("power", str(site), "bm-01", "off")
    assert off.returncode == 0 and "bm-01: off" in off.stderr
    assert ipmi.state["actions"] == ["on", "off"]

    # what the Terraform module's provisioners run
    spec = {"name": "bm-01", "access_ip": "192.168.77.50", "bmc": {**bmc, "verify_tls": True, "system_id": ""},
            "pxe": {"host": "pxe.test", "user": "root", "dhcp": "full"}}
    env = {**os.environ, **pxe_server, "KPROV_MACHINE": json.dumps(spec), "KPROV_SITE_DIR": str(tmp_path)}
    installed = run_machine("install", env)
    assert installed.returncode == 0, installed.stderr
    assert ipmi.state["bootdev"] == "network" and ipmi.state["persistent"] is False
    assert ipmi.state["power"] == "on"
    for proc in (on, off, installed):
        assert PASSWORD not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr

    bad = kprov("power", str(site), "bm-01", "status")
    (tmp_path / "bmc-password").write_text("nope\n")
    wrong = kprov("power", str(site), "bm-01", "status")
    assert bad.returncode == 0 and wrong.returncode == 4 and ipmi.address in wrong.stderr
