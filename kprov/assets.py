"""Where kprov's own files are: ``templates/``, ``terraform/modules/`` and ``playbooks/``.

In a checkout they sit at the top of the repository; an installed wheel carries them as ``kprov.assets.*``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def asset_dir(name: str) -> Path:
    """The folder of asset ``name`` (``templates``, ``terraform`` or ``playbooks``)."""
    local = _CHECKOUT / name
    if local.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return local
    return Path(str(resources.files(f"kprov.assets.{name}")))
