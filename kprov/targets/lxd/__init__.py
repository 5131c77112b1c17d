"""The ``lxd`` target: the plug-in (:mod:`.target`), the local daemon's REST API (:mod:`.client`), and what
``kprov doctor`` checks and repairs on this machine's LXD (:mod:`.local`)."""

from kprov.targets.lxd.target import Lxd, LxdPool, LxdProvider

__all__ = ["Lxd", "LxdPool", "LxdProvider"]
