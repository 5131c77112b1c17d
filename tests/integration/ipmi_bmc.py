"""A fake IPMI BMC for tests: pyghmi's BMC server (real IPMI 2.0 over RMCP+, UDP) in front of a JSON file.

    KPROV_FAKE_BMC_PASSWORD=... python -m tests.integration.ipmi_bmc --port N --user admin --state state.json

The password comes from the environment (as kprov's own secrets do), not argv. The state file holds the power
state, the boot device, whether the last boot-device request was persistent, and a log of power actions; it is
rewritten after every change and first written once the socket is bound, so a test waits for it to appear.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from pyghmi.ipmi import bmc
from pyghmi.ipmi.private import serversession

_SUPPORTED = serversession.ServerSession.create_open_session_response
_RMCP_INVALID_AUTH_ALGORITHM = 0x11  # IPMI 2.0, table 13-15


def _open_session_response(self: Any, request: bytearray) -> bytearray:
    """Answer like a BMC that speaks only cipher suite 3 (HMAC-SHA1), as many do.

    pyghmi's server says yes to any RMCP+ open-session request and then signs with SHA-1, so pyghmi's own client,
    which asks for SHA-256 first, fails its RAKP check. A real SHA-1-only BMC refuses the request instead, and
    the client falls back: that is what this does.
    """
    if request[12] != 1 or request[20] != 1:  # authentication and integrity algorithm: 1 = HMAC-SHA1(-96)
        return bytearray([request[0], _RMCP_INVALID_AUTH_ALGORITHM, 0, 0]) + request[4:8]
    return bytearray(_SUPPORTED(self, request))


serversession.ServerSession.create_open_session_response = _open_session_response


class StateBmc(bmc.Bmc):  # type: ignore[misc]  # pyghmi has no type hints
    def __init__(self, authdata: dict[str, str], port: int, address: str, state: Path) -> None:
        super().__init__(authdata, port=port, address=address)
        self.file = state
        self.state: dict[str, Any] = {"power": "off", "bootdev": "default", "persistent": True, "actions": []}
        self._save()

    def _save(self) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        tmp.replace(self.file)

    def _power(self, action: str, power: str) -> None:
        self.state["power"] = power
        self.state["actions"].append(action)
        self._save()

    def get_power_state(self) -> str:
        return str(self.state["power"])

    def power_on(self) -> None:
        self._power("on", "on")

    def power_off(self) -> None:
        self._power("off", "off")

    def power_shutdown(self) -> None:
        self._power("shutdown", "off")

    def power_reset(self) -> None:
        self._power("reset", "on")

    def power_cycle(self) -> None:
        self._power("cycle", "on")

    def get_boot_device(self) -> str:
        return str(self.state["bootdev"])

    def set_boot_device(self, bootdevice: str) -> None:
        self.state["bootdev"] = bootdevice
        self._save()

    def set_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        if request["data"][0] == 5:  # boot flags: byte 1 bit 6 is "persistent" (IPMI 2.0, table 28-14)
            self.state["persistent"] = bool(request["data"][1] & 0x40)
        super().set_system_boot_options(request, session)


def main() -> None:
    parser = argparse.ArgumentParser(prog="ipmi_bmc")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    server = StateBmc({args.user: os.environ["KPROV_FAKE_BMC_PASSWORD"]}, args.port, args.address, args.state)
    server.listen()


if __name__ == "__main__":
    main()
