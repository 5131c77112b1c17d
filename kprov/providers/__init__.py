"""Registry of targets. Adding a target is adding a module here, a template folder and a Terraform module."""

from __future__ import annotations

from typing import Any

from kprov.providers.base import Target
from kprov.providers.static import Static, StaticProvider

TARGETS: dict[str, Target[Any, Any]] = {t.name: t for t in (Static(),)}

# The provider block's model. With more targets this becomes a union discriminated by ``type``.
ProviderConfig = StaticProvider


def target_for(provider_type: str) -> Target[Any, Any]:
    return TARGETS[provider_type]
