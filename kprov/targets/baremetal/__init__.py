"""The ``baremetal`` target: PXE-booted machines, installed by kprov and powered through their BMC."""
