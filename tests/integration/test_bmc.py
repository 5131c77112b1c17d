"""kprov.bmc over real Redfish: sushy-tools' emulator (fake systems driver) on loopback, with basic auth."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests

from kprov.bmc import BmcAccess, BmcError, Power, connect, wait_for

PASSWORD = "bmc-pw-0d9e2c"
UUID = "3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("bmc")
    (d / "htpasswd").write_bytes(b"admin:" + bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt()) + b"\n")
    (d / "config.py").write_text(
        "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{UUID}', 'name': 'bm-01', 'power_state': 'Off', "
        "'nics': [{'mac': '52:54:00:aa:bb:01', 'ip': '192.168.77.50'}]}]\n"
        f"SUSHY_EMULATOR_AUTH_FILE = '{d / 'htpasswd'}'\n"
        f"SUSHY_EMULATOR_STATE_DIR = '{d / 'state'}'\n"
    )
    port = _free_port()
    log = (d / "emulator.log").open("w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "sushy-emulator"), "--config", str(d / "config.py"),
                             "-i", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/redfish/v1/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


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
