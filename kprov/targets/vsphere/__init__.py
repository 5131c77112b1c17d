"""The ``vsphere`` target: the plug-in (:mod:`.target`) and what it asks of vCenter itself, through pyVmomi
(:mod:`.vcenter`: the snapshots a VM has, and reverting to one)."""

from kprov.targets.vsphere.target import VSPHERE_PROVIDER_VERSION, Vsphere, VspherePool, VsphereProvider

__all__ = ["VSPHERE_PROVIDER_VERSION", "Vsphere", "VspherePool", "VsphereProvider"]
