"""kprov: provision Kubernetes sites from one site file.

The library is the product; :mod:`kprov.cli` only parses arguments and calls it.
"""

from __future__ import annotations

__version__ = "0.1.0"
