"""``kprov plan site.yaml --out site.plan`` and ``kprov apply site.plan``: a reviewed plan, applied as reviewed,
in another CI job if need be.

A plan file is one JSON document: what the plan was made from (the site file's digest, the rendered Terraform
tree's, the Kubespray tree's identity, the Terraform state's lineage and serial), what Terraform would change
(each resource change with its before and after, sensitive values replaced by ``(sensitive)``), the Kubespray
steps and the impact document, and a SHA-256 over all of it. It names the site file relative to itself, so the
plan file and the workdir can move together between jobs.

It holds no Terraform binary plan, on purpose: a saved Terraform plan records every input variable's value,
credentials included (kprov gives credentials to Terraform as ``TF_VAR_*``), and a plan file is an artifact people
download. ``kprov apply`` instead refuses unless nothing it was made from changed, then plans again and applies
only if Terraform's new change set is exactly the recorded one, resource by resource, and the Kubespray steps are
the listed ones. Before writing, every resolved secret of the site is searched for in the document: one found is
an error, never a file."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from kprov.engine.workdir import write_atomic
from kprov.errors import KprovError, UsageError

FORMAT = 1
SENSITIVE = "(sensitive)"
REVIEWED_STEPS = "reviewed-steps.json"
"""In the workdir after `kprov apply PLAN`: the Kubespray steps the plan listed, which `kprov bootstrap` runs."""


class PlanFileError(UsageError):
    """A plan file that cannot be applied: unreadable, edited, another site's, or stale."""


class Made(BaseModel):
    """What a plan was made from; ``kprov apply`` refuses when any of it changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site_file: str
    """The site file, relative to the plan file's folder."""
    site_digest: str
    terraform_tree: str
    kubespray: str
    state_lineage: str | None
    state_serial: int | None


class PlanDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int
    site: str
    made: Made
    changes: list[dict[str, Any]]
    """Terraform's resource changes (``address``, ``actions``, ``before``, ``after``, ``after_unknown``),
    sensitive values redacted."""
    kubespray_steps: list[dict[str, Any]]
    impact: dict[str, Any]


def tree_digest(root: Path) -> str:
    """The rendered Terraform tree: its .tf files and modules, not its variable values (the site file's digest
    covers those), state, lock file or Terraform's own folder."""
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = f.relative_to(root)
        if rel.parts[0].startswith(".") or rel.name.startswith("terraform.tfstate") or rel.name in (
                "tfplan", ".terraform.lock.hcl") or rel.name.endswith(".tfvars.json"):
            continue
        h.update(str(rel).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def redact(value: Any, mask: Any) -> Any:
    """``value`` with every part ``mask`` (Terraform's ``*_sensitive``) marks true replaced by ``(sensitive)``."""
    if mask is True:
        return SENSITIVE
    if isinstance(value, dict) and isinstance(mask, dict):
        return {k: redact(v, mask.get(k, False)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(mask, list):
        return [redact(v, mask[i] if i < len(mask) else False) for i, v in enumerate(value)]
    return value


def changes_of(show: dict[str, Any]) -> list[dict[str, Any]]:
    """The resource changes of ``terraform show -json PLAN``, redacted, no-ops left out, sorted by address."""
    out = []
    for rc in show.get("resource_changes", []):
        change = rc.get("change", {})
        actions = list(change.get("actions", []))
        if actions in (["no-op"], ["read"]):
            continue
        out.append({
            "address": rc["address"], "actions": actions,
            "before": redact(change.get("before"), change.get("before_sensitive", False)),
            "after": redact(change.get("after"), change.get("after_sensitive", False)),
            "after_unknown": change.get("after_unknown", {}),
        })
    return sorted(out, key=lambda c: str(c["address"]))


def differences(recorded: list[dict[str, Any]], now: list[dict[str, Any]]) -> list[str]:
    """The addresses whose change differs between two change sets (one side missing counts)."""
    a = {c["address"]: _canonical(c) for c in recorded}
    b = {c["address"]: _canonical(c) for c in now}
    return sorted(addr for addr in set(a) | set(b) if a.get(addr) != b.get(addr))


def write(path: Path, document: PlanDocument, secrets: list[str]) -> None:
    """Write ``document`` with its checksum; refuse (writing nothing) if any of ``secrets`` is in it."""
    body = document.model_dump(mode="json")
    text = json.dumps({**body, "sha256": hashlib.sha256(_canonical(body)).hexdigest()}, indent=1, sort_keys=True)
    if any(_holds(body, secret) for secret in secrets if secret):
        raise KprovError(f"{path}: not written, a secret of the site would be in it (a value Terraform does not "
                         "mark sensitive); please report this")
    write_atomic(path, text + "\n", mode=0o600)


def _holds(value: Any, secret: str) -> bool:
    """Whether a string in ``value`` is ``secret``, or contains it when it is long enough not to by chance."""
    if isinstance(value, str):
        return value == secret or (len(secret) >= 8 and secret in value)
    if isinstance(value, dict):
        return any(_holds(k, secret) or _holds(v, secret) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds(v, secret) for v in value)
    return False


def read(path: Path) -> PlanDocument:
    """The plan file at ``path``, checked: readable JSON of this format, and its checksum right."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file (make one with `kprov plan SITE --out {path.name}`)") from None
    except (OSError, ValueError) as exc:
        raise PlanFileError(f"{path}: not a kprov plan file, or cut short ({exc})") from None
    if not isinstance(raw, dict) or "sha256" not in raw:
        raise PlanFileError(f"{path}: not a kprov plan file (no checksum)")
    claimed = raw.pop("sha256")
    if hashlib.sha256(_canonical(raw)).hexdigest() != claimed:
        raise PlanFileError(f"{path}: the plan file was changed after `kprov plan` wrote it (checksum mismatch); "
                            "make a new plan")
    if raw.get("format") != FORMAT:
        raise PlanFileError(f"{path}: plan file format {raw.get('format')!r}; this kprov reads format {FORMAT}")
    try:
        return PlanDocument.model_validate(raw)
    except ValidationError as exc:
        raise PlanFileError(f"{path}: not a kprov plan file ({exc.error_count()} problems)") from None


def site_path(plan_path: Path, document: PlanDocument) -> Path:
    return Path(os.path.normpath(plan_path.parent / document.made.site_file))


def relative_site(plan_path: Path, site_file: Path) -> str:
    return os.path.relpath(site_file.resolve(), plan_path.resolve().parent)


def stale(recorded: Made, now: Made) -> list[str]:
    """What changed since the plan, each named for a person."""
    found = []
    if recorded.site_digest != now.site_digest:
        found.append("the site file")
    if recorded.terraform_tree != now.terraform_tree:
        found.append("the Terraform modules and templates kprov renders (another kprov, or an edit)")
    if recorded.kubespray != now.kubespray:
        found.append(f"the Kubespray tree ({recorded.kubespray} then, {now.kubespray} now)")
    if (recorded.state_lineage, recorded.state_serial) != (now.state_lineage, now.state_serial):
        found.append(f"the Terraform state (serial {recorded.state_serial} then, {now.state_serial} now: something "
                     "applied since)")
    return found
