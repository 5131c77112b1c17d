"""Secret references. A site file never holds a secret: it names an environment variable or a file.

Values are resolved only at the moment a subprocess needs them and handed over through its environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, model_validator

from kprov.errors import KprovError
from kprov.exitcodes import ExitCode
from kprov.site.types import exactly_one


class SecretUnavailable(KprovError):
    """A referenced secret is not there; the message names the reference, never a value. A setting of the
    user's, so exit 3 with invalid site files (exit 1 is kept for kprov's own bugs)."""

    exit_code = ExitCode.INVALID_SITE


def secret_refs(value: object) -> list[SecretRef]:
    """Every secret reference in a model (and its sub-models), each once, in the order the model holds them."""
    if isinstance(value, SecretRef):
        return [value]
    if isinstance(value, BaseModel):
        parts: list[object] = [getattr(value, f) for f in type(value).model_fields]
    elif isinstance(value, dict):
        parts = list(value.values())
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        return []
    return list(dict.fromkeys(ref for part in parts for ref in secret_refs(part)))


def referenced_env(value: object) -> set[str]:
    """Names of every environment variable a model (and its sub-models) takes a secret from."""
    return {ref.env for ref in secret_refs(value) if ref.env}


class SecretRef(BaseModel):
    """``{env: NAME}`` or ``{file: PATH}``: where a secret is, never the secret itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = None
    file: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_a_literal(cls, value: object) -> object:
        if isinstance(value, str | int | float):
            raise ValueError("secrets are never written in the site file: use {env: NAME} or {file: PATH}")
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        return exactly_one(self, "env", "file", "a secret reference needs exactly one of 'env' or 'file'")

    def describe(self) -> str:
        return f"env {self.env}" if self.env is not None else f"file {self.file}"

    def resolve(self, base: Path | None = None) -> str:
        """The secret's value. ``base`` anchors a relative file path (the site file's folder)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretUnavailable(f"secret {self.describe()}: environment variable is not set")
            return value
        assert self.file is not None
        path = Path(self.file).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        try:
            return path.read_text().rstrip("\n")
        except OSError as exc:
            raise SecretUnavailable(f"secret {self.describe()}: {exc.strerror}") from None


def resolved(value: str | SecretRef, base: Path | None = None) -> str:
    """A setting that may be a secret reference (``user: {env: ...}`` or a plain ``user: admin``), as its value."""
    return value.resolve(base) if isinstance(value, SecretRef) else value
