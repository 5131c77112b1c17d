"""What happens to one bare-metal machine: publish its boot files, install it, power it.

Terraform's ``baremetal`` module calls this as ``python -m kprov.targets.baremetal.machine ACTION`` from ``local-exec``
provisioners, with the machine's (secret-free) description in ``KPROV_MACHINE``; ``kprov power`` calls
:func:`power` directly. BMC credentials arrive as references and are resolved here, in memory: the password is
in no argv, no Terraform state and no file kprov writes.

Actions:

* ``publish`` — pipe the machine's boot folder (``boot/<name>/`` under the Terraform root) as a tar to
  ``kprov-pxe publish`` on the PXE server over SSH (the helper the ``pxe_server`` role installs);
* ``unpublish`` — remove them there (a disarmed machine stays disarmed, see ``kprov-pxe``);
* ``install`` — forget the machine's old SSH host key, arm its installer on the PXE server, set PXE for the next
  boot only, power it on (off first if it runs an installer kprov waits for); for installers, wait until the
  installer powers the machine off, disarm it and power the machine on to boot its disk;
* ``power-off`` — power the machine off (the machine left the site).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kprov.errors import InfrastructureError, KprovError, UsageError
from kprov.site.load import LoadedSite
from kprov.site.secrets import SecretRef
from kprov.targets.baremetal import bmc as bmc_mod
from kprov.targets.baremetal.bmc import BmcAccess, Power

HELPER = "/usr/local/sbin/kprov-pxe"
PowerAction = Literal["on", "off", "cycle", "status"]


def access(spec: dict[str, Any], base: Path | None = None) -> BmcAccess:
    """A BMC description (module data: references, not secrets) with its credentials resolved now; relative
    secret files against ``base``, by default the site's folder that kprov passes as ``KPROV_SITE_DIR``."""
    user = spec["user"]
    if base is None and os.environ.get("KPROV_SITE_DIR"):
        base = Path(os.environ["KPROV_SITE_DIR"])
    return BmcAccess(
        driver=spec["driver"], address=spec["address"],
        user=SecretRef(**user).resolve(base) if isinstance(user, dict) else str(user),
        password=SecretRef(**spec["password"]).resolve(base), verify_tls=bool(spec.get("verify_tls", True)),
        system_id=spec.get("system_id") or None, user_is_secret=isinstance(user, dict),
    )


@dataclass(frozen=True)
class Published:
    name: str
    files: tuple[str, ...]


def tar_of(files: Mapping[str, bytes]) -> bytes:
    """Files by relative path as an uncompressed tar, with neutral owners, modes and times (same input, same
    bytes): what ``kprov-pxe publish`` reads."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def boot_tar(folder: Path) -> bytes:
    """The boot folder as a tar (:func:`tar_of`)."""
    return tar_of({str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()})


def _pxe_command(pxe: dict[str, Any], *args: str) -> list[str]:
    config = os.environ.get("KPROV_SSH_CONFIG")
    if not config:
        raise UsageError("KPROV_SSH_CONFIG is not set: bare-metal resources are run through kprov")
    remote = ([] if pxe["user"] == "root" else ["sudo", "-n"]) + [HELPER, *args]
    # ssh joins the remote command with spaces for the remote shell: quote every word.
    return ["ssh", "-F", config, "-l", pxe["user"], pxe["host"], "--", *(shlex.quote(a) for a in remote)]


def _run_pxe(argv: list[str], stdin: bytes, what: str) -> dict[str, Any]:
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=300, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InfrastructureError(f"{what}: {err[-1] if err else f'ssh exit code {proc.returncode}'}")
    lines = proc.stdout.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        raise InfrastructureError(f"{what}: unexpected answer from {HELPER}: {lines[-1][:200]}") from None
    return result


def publish(spec: dict[str, Any], folder: Path) -> Published:
    if not (folder / "boot.ipxe").is_file():
        raise UsageError(f"{folder}/boot.ipxe is missing: run `kprov render` (or `kprov up`) again")
    args = ["publish", spec["name"], "--mac", spec["mac"]]
    if spec["pxe"].get("dhcp") == "full":
        args += ["--ip", spec["ip"]]
    out = _run_pxe(_pxe_command(spec["pxe"], *args), boot_tar(folder),
                   f"publishing boot files of {spec['name']} on {spec['pxe']['host']}")
    return Published(spec["name"], tuple(out.get("files", ())))


def unpublish(spec: dict[str, Any]) -> None:
    _run_pxe(_pxe_command(spec["pxe"], "unpublish", spec["name"]), b"",
             f"removing boot files of {spec['name']} from {spec['pxe']['host']}")


def forget_host_key(address: str) -> None:
    """A reinstalled machine has new host keys: drop the old ones so accept-new records the new ones."""
    from kprov.tools.ssh import forget_host_keys  # noqa: PLC0415

    known = os.environ.get("KPROV_KNOWN_HOSTS")
    if known:
        forget_host_keys(Path(known), [address])


def set_armed(spec: dict[str, Any], armed: bool) -> None:
    """Serve the machine's installer on its next network boot (armed) or send it on to its disk (disarmed)."""
    verb = "arm" if armed else "disarm"
    _run_pxe(_pxe_command(spec["pxe"], verb, spec["name"]), b"",
             f"{'arming' if armed else 'disarming'} the installer of {spec['name']} on {spec['pxe']['host']}")


def install(spec: dict[str, Any], say: Callable[[str], None] = print) -> Power:
    """Install the machine: arm its installer, PXE once, power-cycle (or on). Returns the power state before.

    For an OS that installs to disk (``wait_for_installer`` seconds set), the installer powers the machine off
    when it is done; then the installer is disarmed and the machine powered on, so it boots its disk whatever its
    boot order (an iPXE "exit" hands back to the next boot device). Without that, a machine that boots from the
    network first would reinstall itself on every reboot, wiping a running node.
    """
    forget_host_key(spec["access_ip"])
    set_armed(spec, True)
    bmc = bmc_mod.connect(access(spec["bmc"]))
    before = bmc.power()
    wait = int(spec.get("wait_for_installer") or 0)
    if wait and before != Power.OFF:
        # Off, then on: a reset's brief "off" must not be mistaken for the installer's power-off below.
        bmc.power_off()
        bmc_mod.wait_for(bmc, Power.OFF, timeout=120, interval=2)
    bmc.pxe_once()
    if bmc.power() == Power.ON:
        bmc.power_cycle()
    else:
        bmc.power_on()
    if wait:
        bmc_mod.wait_for(bmc, Power.ON, timeout=120, interval=2)  # a BMC may still say "off" just after
        say(f"kprov: {spec['name']}: installing; waiting up to {wait // 60} min for the installer to power it off")
        try:
            bmc_mod.wait_for(bmc, Power.OFF, timeout=wait, interval=10, patient=True)
        except bmc_mod.BmcError as exc:
            raise bmc_mod.BmcError(f"the installer did not finish (power off) within {wait // 60} min ({exc}); "
                                   "its console (BMC serial-over-LAN or KVM) says why") from None
        set_armed(spec, False)
        bmc.power_on()
        bmc_mod.wait_for(bmc, Power.ON, timeout=120, interval=2)
    return before


def power(access_: BmcAccess, action: PowerAction, timeout: float = 120) -> Power:
    """``kprov power``: act, wait until the BMC reports the result, return the power state."""
    bmc = bmc_mod.connect(access_)
    if action == "on":
        bmc.power_on()
        bmc_mod.wait_for(bmc, Power.ON, timeout)
    elif action == "off":
        if bmc.power() != Power.OFF:
            bmc.power_off()
        bmc_mod.wait_for(bmc, Power.OFF, timeout)
    elif action == "cycle":
        bmc.power_cycle()
        bmc_mod.wait_for(bmc, Power.ON, timeout)
    return bmc.power()


def node_access(loaded: LoadedSite, node: str) -> BmcAccess:
    """The BMC of a bare-metal node of the site, credentials resolved."""
    from kprov.targets.baremetal.model import BaremetalPool  # noqa: PLC0415

    for pool in loaded.pools.values():
        if isinstance(pool, BaremetalPool):
            for m in pool.machines:
                if m.name == node:
                    return access(m.bmc.module_data(), loaded.base_dir)
    known = sorted(m.name for p in loaded.pools.values() if isinstance(p, BaremetalPool) for m in p.machines)
    raise UsageError(f"{node} is not a bare-metal node of site {loaded.name}"
                     + (f" (those are: {', '.join(known)})" if known else " (it has none)"))


def power_node(loaded: LoadedSite, node: str, action: PowerAction) -> Power:
    return power(node_access(loaded, node), action)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ("publish", "unpublish", "install", "power-off"):
        print("usage: python -m kprov.targets.baremetal.machine publish|unpublish|install|power-off "
              "(KPROV_MACHINE holds the machine)", file=sys.stderr)
        return 2
    action = args[0]
    try:
        spec = json.loads(os.environ.get("KPROV_MACHINE", ""))
        name = spec["name"]
    except (ValueError, KeyError, TypeError):
        print("kprov.targets.baremetal.machine: KPROV_MACHINE is not a machine description", file=sys.stderr)
        return 2
    try:
        if action == "publish":
            done = publish(spec, Path("boot") / name)
            print(f"kprov: {name}: boot files published on {spec['pxe']['host']} ({len(done.files)} files)")
        elif action == "unpublish":
            unpublish(spec)
            print(f"kprov: {name}: boot files removed from {spec['pxe']['host']}")
        elif action == "install":
            before = install(spec, say=lambda line: print(line, flush=True))
            how = "power-cycled" if before == Power.ON else "powered on"
            if spec.get("wait_for_installer"):
                print(f"kprov: {name}: installed; installer disarmed, powered on to boot its disk")
            else:
                print(f"kprov: {name}: PXE boot once set, {how}; the installer takes it from here")
        else:
            bmc = bmc_mod.connect(access(spec["bmc"]))
            if bmc.power() != Power.OFF:
                bmc.power_off()
            print(f"kprov: {name}: powered off")
    except KprovError as exc:
        print(f"kprov: {name}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
