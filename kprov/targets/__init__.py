"""The registry of targets, filled from the ``kprov.targets`` entry-point group.

kprov's own targets are registered in its ``pyproject.toml`` like any outside package's, so adding a target is
adding a plug-in (a :class:`~kprov.targets.base.Target` subclass), its template folder and its Terraform module:
the schema, ``kprov init``, validate, render and the CLI's choices all read this registry.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field

if TYPE_CHECKING:
    from kprov.targets.base import Target

GROUP = "kprov.targets"

class TargetRegistryError(RuntimeError):
    """An installed plug-in does not fulfil the target contract (a bug in that package, not in a site file)."""


@cache
def registry() -> dict[str, Target[Any, Any]]:
    """Every installed target, by name in alphabetical order (the order the schema and messages list them)."""
    from kprov.targets.base import Target  # noqa: PLC0415 - keeps `import kprov.targets` light

    found: dict[str, Target[Any, Any]] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found:
            continue  # the same distribution seen twice on sys.path (editable installs)
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Target)):
            raise TargetRegistryError(f"entry point {ep.name} = {ep.value} is not a kprov Target class")
        target = cls()
        if target.name != ep.name:
            raise TargetRegistryError(f"entry point {ep.name} loads target {target.name!r}: the names must match")
        found[ep.name] = target
    return dict(sorted(found.items()))


def target_for(provider_type: str) -> Target[Any, Any]:
    return registry()[provider_type]


def provider_config_type() -> Any:
    """The provider block's type: a union of every target's provider model, discriminated by ``type``."""
    models = tuple(t.provider_model for t in registry().values())
    return Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007 - built at run time
