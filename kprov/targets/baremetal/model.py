"""The ``baremetal`` site-file model: machines that boot from the network, get an OS installed, and are powered
through their BMC.

The provider block names the PXE server (deployed by ``playbooks/pxe-server.yml``; kprov publishes each
machine's boot files there over SSH) and the OS to install; each pool lists its machines by name, MAC, address,
disk and BMC. Everything that ends up on a kernel command line or in an iPXE script is checked here against a
strict character set: iPXE expands ``${...}`` and splits on spaces, so a URL with ``$`` or a space would change
the script rather than be part of it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from kprov.site.secrets import SecretRef
from kprov.site.types import KERNEL_ARG, DnsLabel, Labels
from kprov.targets.baremetal.bmc import ipmi_target
from kprov.targets.machines import MachinePool

_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+=,:-]*)?$")
_MEDIA_PATH = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


def _media(value: str) -> str:
    if len(value) <= 1024 and (_URL.match(value) or (
            _MEDIA_PATH.match(value) and not {".", ".."} & set(value.split("/")))):
        return value
    raise ValueError("an http(s) URL or a path under the PXE server's http/ folder, of letters, digits and "
                     "._-/ only (iPXE would expand '$' and split on spaces)")


Media = Annotated[str, AfterValidator(_media)]
"""An http(s) URL, or a path under the PXE server's ``http/`` folder (``media/ubuntu-24.04/vmlinuz``)."""
KernelArg = Annotated[str, StringConstraints(pattern=KERNEL_ARG, max_length=256)]
Disk = Annotated[str, StringConstraints(pattern=r"^/dev/[A-Za-z0-9._:/+-]+$", max_length=256)]
UserName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
_MAC = re.compile(r"^([0-9a-f]{2})([:-][0-9a-f]{2}){5}$")

OS_KINDS = ("autoinstall", "kickstart", "image", "live")
INSTALL_TIMEOUT = {"autoinstall": 3600, "kickstart": 3600, "image": 1800, "live": 900}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dhcp(_Strict):
    mode: Literal["full", "proxy"] = "full"
    """``full``: the PXE server is the network's DHCP server (only known MACs get an answer); ``proxy``: an
    existing DHCP server hands out addresses and the PXE server only adds boot information."""
    range: tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None = None
    """``full`` only: first and last address handed to machines while they boot the installer."""
    lease: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}[smhd]?$")] = "1h"

    @model_validator(mode="after")
    def _range(self) -> Dhcp:
        if self.mode == "full" and self.range is None:
            raise ValueError("dhcp mode 'full' needs a range: [first, last]")
        if self.mode == "proxy" and self.range is not None:
            raise ValueError("dhcp mode 'proxy' takes no range: the existing DHCP server owns the addresses")
        if self.range and self.range[0] > self.range[1]:
            raise ValueError(f"range starts at {self.range[0]}, after its end {self.range[1]}")
        return self


class PxeServer(_Strict):
    host: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}$")]
    """Where kprov reaches the PXE server over SSH (to deploy it and to publish boot files)."""
    address: ipaddress.IPv4Address | None = None
    """The address machines use for TFTP and HTTP (default: ``host``, which must then be an address)."""
    interface: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,15}$")] = "eth0"
    http_port: Annotated[int, Field(ge=1, le=65535)] = 8080
    ssh_user: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")] | None = None
    """Default: the site's ``ssh.user``. Not root: the playbook lets this user run the publishing helper."""
    manage: bool = True
    """Run ``playbooks/pxe-server.yml`` on it during ``kprov up``; false: it is managed elsewhere."""
    dhcp: Dhcp = Field(default_factory=lambda: Dhcp(mode="proxy"))

    @model_validator(mode="after")
    def _address(self) -> PxeServer:
        if self.address is None:
            try:
                ipaddress.IPv4Address(self.host)
            except ValueError:
                raise ValueError("set 'address': the address machines reach the PXE server at "
                                 f"('host' {self.host!r} is a name)") from None
        return self

    @property
    def boot_address(self) -> str:
        return str(self.address or self.host)

    def url(self, media: str) -> str:
        """A media reference as the URL a booting machine fetches."""
        if media.startswith(("http://", "https://")):
            return media
        return f"http://{self.boot_address}:{self.http_port}/{media}"


class OperatingSystem(_Strict):
    kind: Literal["autoinstall", "kickstart", "image", "live"]
    """``autoinstall``: Ubuntu's installer (subiquity) with a NoCloud seed; ``kickstart``: Rocky/Alma/RHEL
    (anaconda); ``image``: a live installer environment with cloud-init writes a disk image; ``live``: the
    machine runs the booted system from memory (diskless) and configures itself from the NoCloud seed."""
    kernel: Media
    initrd: Media
    iso: Media | None = None
    """autoinstall: the live-server ISO the installer loads (``url=``)."""
    repo: Media | None = None
    """kickstart: the installation tree (``inst.repo=``)."""
    image: Media | None = None
    """image: a raw disk image, optionally .gz/.xz/.zst compressed, with cloud-init inside."""
    cmdline: list[KernelArg] = Field(default_factory=list)
    """Extra kernel arguments, e.g. ``console=ttyS0,115200n8``."""
    install_timeout: Annotated[int, Field(ge=60, le=4 * 3600)] | None = None
    """Seconds from power-on until SSH answers on the installed system (default by kind)."""

    @model_validator(mode="after")
    def _needs(self) -> OperatingSystem:
        need = {"autoinstall": "iso", "kickstart": "repo", "image": "image"}.get(self.kind)
        if need and getattr(self, need) is None:
            raise ValueError(f"os kind {self.kind!r} needs '{need}'")
        for other in ("iso", "repo", "image"):
            if other != need and getattr(self, other) is not None:
                raise ValueError(f"'{other}' does not apply to os kind {self.kind!r}")
        return self

    @property
    def timeout(self) -> int:
        return self.install_timeout or INSTALL_TIMEOUT[self.kind]


class BaremetalProvider(_Strict):
    type: Literal["baremetal"]
    pxe: PxeServer
    os: OperatingSystem
    disk: Disk = "/dev/sda"
    """Default install disk; a machine's own ``disk`` wins. Prefer stable names (``/dev/disk/by-path/...``)."""


class BmcConfig(_Strict):
    """How to reach a machine's BMC, as the site file says it (credentials as references)."""

    driver: Literal["redfish", "ipmi"]
    address: Annotated[str, StringConstraints(pattern=r"^(https?://)?[A-Za-z0-9.:\[\]-]+(:[0-9]{1,5})?/?$")]
    """Redfish: ``https://10.0.0.21`` (a bare host means https); IPMI: a host name or address, ``:port`` if not
    623."""
    user: UserName | SecretRef
    password: SecretRef
    verify_tls: bool = True
    """Redfish only. false accepts any certificate (BMCs ship self-signed ones); prefer a proper CA."""
    system_id: Annotated[str, StringConstraints(pattern=r"^/redfish/v1/Systems/[A-Za-z0-9._-]+$")] | None = None

    @model_validator(mode="after")
    def _fits(self) -> BmcConfig:
        if self.driver == "ipmi":
            if self.address.startswith("http") or self.system_id:
                raise ValueError("an IPMI BMC is a host name or address, without URL or system_id")
            try:
                ipmi_target(self.address)
            except ValueError:
                raise ValueError(f"IPMI address {self.address!r}: use host or host:port (port 1-65535)") from None
        return self

    @property
    def url(self) -> str:
        if self.driver == "ipmi" or self.address.startswith("http"):
            return self.address
        return f"https://{self.address}"

    def module_data(self) -> dict[str, Any]:
        """What the Terraform module keeps of this BMC: credentials as references, never secrets."""
        return {"driver": self.driver, "address": self.url, "user": secret_ref_data(self.user),
                "password": secret_ref_data(self.password), "verify_tls": self.verify_tls,
                "system_id": self.system_id or ""}


class Machine(_Strict):
    name: DnsLabel
    mac: str
    ip: ipaddress.IPv4Address
    disk: Disk | None = None
    labels: Labels = Field(default_factory=dict)
    bmc: BmcConfig

    @field_validator("mac", mode="before")
    @classmethod
    def _mac(cls, value: object) -> object:
        if isinstance(value, str):
            mac = value.strip().lower()
            if _MAC.match(mac):
                return mac.replace("-", ":")
        raise ValueError("a MAC address like aa:bb:cc:00:00:01")


class BaremetalPool(MachinePool):
    machines: Annotated[list[Machine], Field(min_length=1)]


def secret_ref_data(ref: SecretRef | str) -> dict[str, str] | str:
    """A reference as module data. A relative file stays relative: ``kprov.targets.baremetal.machine`` resolves it
    against the site file's folder (``KPROV_SITE_DIR``), so rendered files do not depend on where the site lives."""
    return ref if isinstance(ref, str) else ref.model_dump(exclude_none=True)
