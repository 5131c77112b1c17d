"""What the ``vsphere`` target asks of vCenter itself, through pyVmomi (VMware's own SDK): the snapshots a VM has,
and reverting it to one. Terraform's vsphere provider makes and deletes snapshots (the module's
``vsphere_virtual_machine_snapshot``) but has no revert. Credentials are the site's secret references, resolved
when connecting and never written anywhere."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kprov.errors import InfrastructureError, UsageError
from kprov.site.secrets import resolved
from kprov.targets.base import host_port

if TYPE_CHECKING:
    from kprov.targets.vsphere.target import VsphereProvider


@contextmanager
def connect(provider: VsphereProvider, base_dir: Path, timeout: float = 30) -> Iterator[Any]:
    """A logged-in service instance; vCenter errors become :class:`InfrastructureError` naming the server."""
    from pyVim.connect import Disconnect, SmartConnect  # noqa: PLC0415 - deferred: pyVmomi loads slowly
    from pyVmomi import vim, vmodl  # noqa: PLC0415

    host, port = host_port(provider.server, 443)
    try:
        si = SmartConnect(  # type: ignore[no-untyped-call]
            host=host, port=port, user=resolved(provider.user, base_dir), pwd=resolved(provider.password, base_dir),
            disableSslCertValidation=provider.insecure, httpConnectionTimeout=timeout)
    except vim.fault.InvalidLogin:
        raise InfrastructureError(f"vCenter {provider.server} refused the site's user and password") from None
    except (OSError, ssl.SSLError, vmodl.MethodFault) as e:
        raise InfrastructureError(f"vCenter {provider.server} did not answer: {type(e).__name__}") from None
    try:
        yield si
    except vmodl.MethodFault as e:
        raise InfrastructureError(f"vCenter {provider.server}: {getattr(e, 'msg', '') or type(e).__name__}"
                                  ) from None
    finally:
        Disconnect(si)  # type: ignore[no-untyped-call]


def find_vm(si: Any, provider: VsphereProvider, name: str) -> Any:
    from pyVmomi import vim  # noqa: PLC0415

    datacenter = next((dc for dc in si.content.rootFolder.childEntity
                       if isinstance(dc, vim.Datacenter) and dc.name == provider.datacenter), None)
    if datacenter is None:
        raise InfrastructureError(f"vCenter {provider.server} has no datacenter {provider.datacenter}")
    view = si.content.viewManager.CreateContainerView(datacenter, [vim.VirtualMachine], True)
    try:
        vm = next((v for v in view.view if v.name == name), None)
    finally:
        view.Destroy()
    if vm is None:
        raise InfrastructureError(f"vCenter {provider.server} has no VM {name} in {provider.datacenter}")
    return vm


def _tree(snapshots: Any) -> Iterator[Any]:
    for s in snapshots or []:
        yield s
        yield from _tree(s.childSnapshotList)


def snapshot_names(vm: Any) -> list[str]:
    return sorted(s.name for s in _tree(vm.snapshot.rootSnapshotList if vm.snapshot else []))


def wait(si: Any, task: Any, what: str, timeout: float = 900) -> None:
    """Wait for a vCenter task, reading only its state and error (pyVim's WaitForTask reads the whole task info,
    whose ``entity`` some vCenters, the simulator among them, fill with an object the SDK then refuses)."""
    from pyVmomi import vim, vmodl  # noqa: PLC0415

    collector = vmodl.query.PropertyCollector
    spec = collector.FilterSpec(  # type: ignore[no-untyped-call]
        objectSet=[collector.ObjectSpec(obj=task)],  # type: ignore[no-untyped-call]
        propSet=[collector.PropertySpec(type=vim.Task, pathSet=["info.state", "info.error"])])  # type: ignore[no-untyped-call]
    deadline = time.monotonic() + timeout
    while True:
        found = si.content.propertyCollector.RetrieveContents([spec])
        props = {p.name: p.val for p in found[0].propSet} if found else {}
        state = props.get("info.state")
        if state == "success":
            return
        if state == "error":
            error = props.get("info.error")
            raise InfrastructureError(f"{what}: {getattr(error, 'msg', '') or type(error).__name__}")
        if time.monotonic() > deadline:
            raise InfrastructureError(f"{what}: vCenter's task did not finish in {timeout:.0f} s")
        time.sleep(0.5)


def revert(si: Any, vm: Any, name: str) -> None:
    """Revert ``vm`` to its snapshot ``name`` and power it on (a disk-only snapshot reverts to powered off)."""

    found = [s for s in _tree(vm.snapshot.rootSnapshotList if vm.snapshot else []) if s.name == name]
    if len(found) != 1:
        raise UsageError(f"{vm.name}: {'no' if not found else 'more than one'} snapshot named {name} in vCenter "
                         f"(it has: {', '.join(snapshot_names(vm)) or 'none'})")
    wait(si, found[0].snapshot.RevertToSnapshot_Task(), f"{vm.name}: revert to {name}")
    if vm.runtime.powerState != "poweredOn":  # pyVmomi's enums are strings
        wait(si, vm.PowerOnVM_Task(), f"{vm.name}: power on")
