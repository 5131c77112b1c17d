"""Power and one-time boot device through a machine's BMC: Redfish via ``sushy``, IPMI via ``pyghmi``.

Bare-metal provisioning needs three things from a BMC: set PXE for the next boot only, power-cycle, and read
the power state. Both drivers give that one small interface. The password is handed over in memory only, and
every error raised from here has it scrubbed, so it cannot reach a log or an event through an exception text.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from kprov.errors import InfrastructureError


class Power(StrEnum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class BmcError(InfrastructureError):
    """A BMC refused or failed a request; the message names the machine and never carries a password."""


@dataclass(frozen=True)
class BmcAccess:
    driver: Literal["redfish", "ipmi"]
    address: str
    """Redfish: a base URL (``https://10.0.0.21``); IPMI: a host name or address, ``:port`` if not 623."""
    user: str
    password: str = field(repr=False)
    verify_tls: bool | str = True
    """Redfish only: False, True, or a CA bundle path."""
    system_id: str | None = None
    """Redfish only: the system's path (``/redfish/v1/Systems/1``); default: the only system there is."""
    user_is_secret: bool = False
    """The user name came from a secret reference: it is scrubbed from errors like the password."""

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.password, self.user) if self.user_is_secret else (self.password,)


class Bmc(Protocol):
    def power(self) -> Power: ...
    def power_on(self) -> None: ...
    def power_off(self) -> None: ...
    def power_cycle(self) -> None: ...
    def pxe_once(self) -> None: ...


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***") if secret else text
    return text


class _Guarded:
    """Turns any library error into a :class:`BmcError` naming the BMC, with the password (and a user name from a
    secret reference) scrubbed."""

    kind: str
    access: BmcAccess

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BmcError:
            raise
        except Exception as exc:  # sushy and pyghmi raise many types; all mean the BMC failed us
            raise BmcError(f"{self.kind} BMC {self.access.address}: {what}: "
                           f"{_scrub(str(exc), self.access.secrets)}") from None


class RedfishBmc(_Guarded):
    kind = "Redfish"

    def __init__(self, access: BmcAccess) -> None:
        import sushy  # noqa: PLC0415 - loaded only for bare-metal sites

        self._sushy = sushy
        self.access = access
        base = access.address.rstrip("/")
        base = base if base.endswith("/redfish/v1") else base + "/redfish/v1"
        self._conn = self._call("connect", sushy.Sushy, base, username=access.user, password=access.password,
                                verify=access.verify_tls)
        self._system = (self._call("find system", self._conn.get_system, access.system_id) if access.system_id
                        else self._only_system())

    def _only_system(self) -> Any:
        members = list(self._call("list systems", self._conn.get_system_collection).members_identities)
        if len(members) != 1:
            raise BmcError(f"Redfish BMC {self.access.address} has {len(members)} systems: set system_id")
        return self._call("find system", self._conn.get_system, members[0])

    def power(self) -> Power:
        self._call("refresh", self._system.refresh)
        state = self._system.power_state
        return {self._sushy.POWER_STATE_ON: Power.ON, self._sushy.POWER_STATE_OFF: Power.OFF}.get(state, Power.UNKNOWN)

    def power_on(self) -> None:
        self._call("power on", self._system.reset_system, self._sushy.RESET_ON)

    def power_off(self) -> None:
        self._call("power off", self._system.reset_system, self._sushy.RESET_FORCE_OFF)

    def power_cycle(self) -> None:
        if self.power() == Power.OFF:
            self.power_on()
        else:
            self._call("power cycle", self._system.reset_system, self._sushy.RESET_FORCE_RESTART)

    def pxe_once(self) -> None:
        self._call("boot from PXE once", self._system.set_system_boot_options,
                   self._sushy.BOOT_SOURCE_TARGET_PXE, enabled=self._sushy.BOOT_SOURCE_ENABLED_ONCE)


IPMI_PORT = 623


def ipmi_target(address: str) -> tuple[str, int]:
    """``host``, ``host:port`` or ``[v6]:port`` as (host, port); the port is IPMI's 623 unless given (virtualbmc
    and similar serve one port per machine). A port outside 1-65535 raises ValueError."""
    parts = urllib.parse.urlsplit("//" + address)
    port = parts.port  # raises ValueError when out of range
    if not parts.hostname or port == 0:
        raise ValueError(f"{address!r} is not host or host:port")
    return parts.hostname, port or IPMI_PORT


class IpmiBmc(_Guarded):
    kind = "IPMI"

    def __init__(self, access: BmcAccess) -> None:
        from pyghmi.ipmi import command  # noqa: PLC0415 - loaded only for bare-metal sites

        self.access = access
        host, port = ipmi_target(access.address)
        self._cmd = self._call("connect", command.Command, bmc=host, port=port, userid=access.user,
                               password=access.password)

    def power(self) -> Power:
        state = self._call("power status", self._cmd.get_power).get("powerstate")
        return {"on": Power.ON, "off": Power.OFF}.get(state, Power.UNKNOWN)

    def power_on(self) -> None:
        self._call("power on", self._cmd.set_power, "on", wait=True)

    def power_off(self) -> None:
        self._call("power off", self._cmd.set_power, "off", wait=True)

    def power_cycle(self) -> None:
        self._call("power cycle", self._cmd.set_power, "boot", wait=True)

    def pxe_once(self) -> None:
        self._call("boot from PXE once", self._cmd.set_bootdev, "network", persist=False)


def connect(access: BmcAccess) -> Bmc:
    return RedfishBmc(access) if access.driver == "redfish" else IpmiBmc(access)


def wait_for(bmc: Bmc, state: Power, timeout: float = 60, interval: float = 1, *, patient: bool = False) -> None:
    """Wait until the BMC reports ``state`` (power changes are asynchronous on most BMCs).

    ``patient``: a failed read is retried until the deadline instead of raised (for waits of an hour, through
    which a BMC may well drop a request or reboot itself).
    """
    deadline = time.monotonic() + timeout
    last = str(Power.UNKNOWN)
    while True:
        try:
            power = bmc.power()
        except BmcError as exc:
            if not patient:
                raise
            last = f"unreadable ({exc})"
        else:
            if power == state:
                return
            last = str(power)
        left = deadline - time.monotonic()
        if left <= 0:
            raise BmcError(f"power is still {last} after {timeout:.0f}s, expected {state}")
        time.sleep(min(interval, left))
