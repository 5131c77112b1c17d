"""kprov.targets.baremetal.bmc over real Redfish: sushy-tools' emulator (fake systems driver) on loopback, with
basic auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from kprov.targets.baremetal.bmc import BmcAccess, BmcError, Power, connect, wait_for
from tests.conftest import write_metal_site
from tests.integration.conftest import HELPER, INSTALLER, run_machine
from tests.redfish_emulator import RedfishEmulator

PASSWORD = "bmc-pw-0d9e2c"
UUID = "3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    fake = ["SUSHY_EMULATOR_FAKE_DRIVER = True",
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{UUID}', 'name': 'bm-01', 'power_state': 'Off', "
            "'nics': [{'mac': '52:54:00:aa:bb:01', 'ip': '192.168.77.50'}]}]"]
    with RedfishEmulator(tmp_path_factory.mktemp("bmc"), user="admin", password=PASSWORD, config=fake,
                         start_timeout=30) as bmc:
        yield bmc.base_url


def test_power_cycle_and_pxe_once_over_redfish(emulator: str) -> None:
    bmc = connect(BmcAccess("redfish", emulator, "admin", PASSWORD, verify_tls=False))
    assert bmc.power() == Power.OFF
    bmc.pxe_once()
    bmc.power_on()
    wait_for(bmc, Power.ON, timeout=30, interval=0.5)
    system = requests.get(f"{emulator}/redfish/v1/Systems/{UUID}", auth=("admin", PASSWORD), timeout=5).json()
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    bmc.power_off()
    wait_for(bmc, Power.OFF, timeout=30, interval=0.5)


def test_a_wrong_password_is_an_error_without_the_password(emulator: str) -> None:
    wrong = PASSWORD + "-wrong"
    with pytest.raises(BmcError) as info:
        connect(BmcAccess("redfish", emulator, "admin", wrong, verify_tls=False)).power()
    assert wrong not in str(info.value) and PASSWORD not in str(info.value)
    assert emulator in str(info.value)
    assert wrong not in repr(BmcAccess("redfish", emulator, "admin", wrong))


def _metal_site(tmp_path: Path, emulator: str) -> Path:
    return write_metal_site(tmp_path, {"driver": "redfish", "address": emulator, "user": "admin",
                                       "password": {"env": "KPROV_TEST_BMC_PW"}, "verify_tls": False})


def _kprov(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def test_kprov_power_drives_the_bmc_and_never_shows_the_password(emulator: str, tmp_path: Path) -> None:
    site = str(_metal_site(tmp_path, emulator))
    env = {**os.environ, "KPROV_TEST_BMC_PW": PASSWORD}
    on = _kprov("-o", "json", "power", site, "bm-01", "on", env=env)
    assert on.returncode == 0, on.stderr
    event = json.loads(on.stdout.splitlines()[-1])
    assert event["data"]["power"] == "on" and event["host"] == "bm-01"
    status = _kprov("power", site, "bm-01", "status", env=env)
    assert status.returncode == 0 and "bm-01: on" in status.stderr
    off = _kprov("power", site, "bm-01", "off", env=env)
    assert off.returncode == 0 and "bm-01: off" in off.stderr
    unknown = _kprov("power", site, "bm-09", "status", env=env)
    assert unknown.returncode == 2
    assert "bm-09 is not a bare-metal node of site metal (those are: bm-01)" in unknown.stderr
    wrong = _kprov("power", site, "bm-01", "status", env={**env, "KPROV_TEST_BMC_PW": "nope-" + PASSWORD})
    assert wrong.returncode == 4 and emulator in wrong.stderr
    missing = _kprov("power", site, "bm-01", "status", env={k: v for k, v in env.items() if k != "KPROV_TEST_BMC_PW"})
    assert missing.returncode != 0 and "KPROV_TEST_BMC_PW" in missing.stderr
    for proc in (on, status, off, unknown, wrong, missing):
        assert PASSWORD not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr


def _machine_env(tmp_path: Path, emulator: str, pxe_server: dict[str, str], **extra: object) -> dict[str, str]:
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    spec = {"name": "bm-01", "access_ip": "192.168.77.50",
            "bmc": {"driver": "redfish", "address": emulator, "user": "admin", "password": {"file": "pw"},
                    "verify_tls": False, "system_id": ""},
            "pxe": {"host": "pxe.test", "user": "root", "dhcp": "full"}, **extra}
    return {**os.environ, **pxe_server, "KPROV_MACHINE": json.dumps(spec), "KPROV_SITE_DIR": str(tmp_path)}


def test_machine_install_sets_pxe_once_and_powers_on(emulator: str, tmp_path: Path,
                                                     pxe_server: dict[str, str]) -> None:
    """What the Terraform module's provisioners run, with the description the module hands over (live OS)."""
    env = _machine_env(tmp_path, emulator, pxe_server)
    auth = ("admin", PASSWORD)
    requests.patch(f"{emulator}/redfish/v1/Systems/{UUID}", json={"Boot": {"BootSourceOverrideTarget": "Hdd"}},
                   auth=auth, timeout=5)
    subprocess.run([sys.executable, str(HELPER), "--config", env["KPROV_TEST_PXE_CONFIG"], "disarm", "bm-01"],
                   check=True, capture_output=True)
    bmc = connect(BmcAccess("redfish", emulator, "admin", PASSWORD, verify_tls=False))
    installed = run_machine("install", env)
    assert installed.returncode == 0, installed.stderr
    assert "PXE boot once set" in installed.stdout
    assert Path(env["KPROV_TEST_BOOT_IPXE"]).read_bytes() == INSTALLER  # armed again, whatever it was
    assert Path(env["KPROV_TEST_PXE_LOG"]).read_text() == "arm bm-01\n"
    system = requests.get(f"{emulator}/redfish/v1/Systems/{UUID}", auth=auth, timeout=5).json()
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    # (sushy-tools' emulator always reports BootSourceOverrideEnabled "Continuous", whatever was asked)
    wait_for(bmc, Power.ON, timeout=30, interval=0.5)
    off = run_machine("power-off", env)
    assert off.returncode == 0, off.stderr
    wait_for(bmc, Power.OFF, timeout=30, interval=0.5)
    bad = run_machine("install", {**env, "KPROV_SITE_DIR": str(tmp_path / "elsewhere")})
    assert bad.returncode == 1 and bad.stderr.startswith("kprov: bm-01: secret file pw")


def test_install_waits_for_the_installer_to_power_off_then_boots_the_disk(
        emulator: str, tmp_path: Path, pxe_server: dict[str, str]) -> None:
    """An OS installed to disk: the installer powers the machine off; kprov disarms it and powers on."""
    env = _machine_env(tmp_path, emulator, pxe_server, wait_for_installer=120)
    bmc = connect(BmcAccess("redfish", emulator, "admin", PASSWORD, verify_tls=False))
    if bmc.power() != Power.ON:  # a running machine: kprov powers it off and on, never just resets it
        bmc.power_on()
        wait_for(bmc, Power.ON, timeout=30, interval=0.5)
    boot_ipxe = Path(env["KPROV_TEST_BOOT_IPXE"])
    proc = subprocess.Popen([sys.executable, "-m", "kprov.targets.baremetal.machine", "install"],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the machine is back on, booting its installer
        assert "installing; waiting up to 2 min for the installer" in first, first + proc.stderr.read()
        time.sleep(3)
        assert proc.poll() is None and boot_ipxe.read_bytes() == INSTALLER
        assert bmc.power() == Power.ON
        bmc.power_off()  # the installer is done
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    out = first + out
    assert proc.returncode == 0, err
    assert "waiting up to 2 min for the installer" in out and "installer disarmed, powered on" in out
    assert b"exit" in boot_ipxe.read_bytes() and b"bm-01 is installed" in boot_ipxe.read_bytes()
    assert Path(env["KPROV_TEST_PXE_LOG"]).read_text() == "arm bm-01\ndisarm bm-01\n"
    assert bmc.power() == Power.ON

    # an installer that never finishes is an error naming the wait, and the installer stays armed
    slow = run_machine("install", _machine_env(tmp_path, emulator, pxe_server, wait_for_installer=2))
    assert slow.returncode == 1
    assert "the installer did not finish (power off) within 0 min" in slow.stderr
    assert boot_ipxe.read_bytes() == INSTALLER
