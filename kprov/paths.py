"""Where kprov's own files are: ``templates/``, ``terraform/modules/``, ``playbooks/`` and ``examples/``.

In a checkout they sit at the top of the repository; an installed wheel carries them in ``kprov/assets/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def asset_dir(name: str) -> Path:
    """The folder of asset ``name`` (``templates``, ``terraform``, ``playbooks`` or ``examples``)."""
    installed = _PACKAGE / "assets" / name
    if installed.is_dir():
        return installed
    return _CHECKOUT / name
