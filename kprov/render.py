"""Render a site into its workdir: the Terraform root module (structure from ``templates/``, data in
``kprov.auto.tfvars.json``), the target modules it uses, and the Kubespray inventory.

No user string is ever pasted into HCL: the template sees only validated identifiers (provider names, module
names), and everything else reaches Terraform as JSON variables.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from kprov import __version__, inventory, snapshots
from kprov.engine.workdir import Workdir, private_dir, write_atomic
from kprov.errors import UsageError
from kprov.nodes import Node
from kprov.paths import asset_dir
from kprov.site.load import LoadedSite, keygen_hint
from kprov.site.secrets import SecretRef, resolved
from kprov.targets import target_for
from kprov.targets.base import TerraformProvider
from kprov.targets.contract import Network, NodeInput, Site, Ssh, hcl_type

TFVARS = "kprov.auto.tfvars.json"


def _jinja() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(asset_dir("templates"))),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders HCL, not HTML; only validated identifiers reach it
    )


def site_context(loaded: LoadedSite) -> Site:
    """The site as every target gets it (``ctx``) and every module (``var.site``)."""
    site = loaded.site
    key = ""
    path = loaded.public_key
    if path is not None:
        try:
            key = path.read_text().strip()
        except OSError as exc:
            raise UsageError(f"ssh.public_key {path}: {exc.strerror}; new machines get it ({keygen_hint(path)})"
                             ) from None
    net = site.network
    return Site(name=site.metadata.name, description=site.metadata.description,
                network=Network(prefix_length=net.cidr.prefixlen, gateway=str(net.gateway) if net.gateway else None,
                                dns=tuple(str(d) for d in net.dns), domain=net.domain),
                ssh=Ssh(user=site.ssh.user, public_key=key))


def credential_variables(loaded: LoadedSite) -> dict[str, str | SecretRef]:
    """Provider credentials by Terraform variable name (``<provider>_<field>``)."""
    out: dict[str, str | SecretRef] = {}
    for name, provider in loaded.site.providers.items():
        for suffix, value in target_for(provider.type).credentials(provider).items():
            out[f"{name}_{suffix}"] = value
    return out


def credential_environment(loaded: LoadedSite) -> dict[str, str]:
    """``TF_VAR_*`` for every credential, resolved now: the only way a secret reaches Terraform."""
    return {f"TF_VAR_{var}": resolved(value, loaded.base_dir) for var, value in credential_variables(loaded).items()}


def tfvars(loaded: LoadedSite, kept: Mapping[str, tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Every user value Terraform needs, as data: ``site`` (the contract's :class:`Site`, every module's
    ``var.site``), per instance and pool the pool's ``nodes`` (contract :class:`NodeInput`, with the snapshot
    names ``kept`` gives each node) and target ``settings``, and ``provider_settings``."""
    kept = kept or {}
    site = loaded.site
    ctx = site_context(loaded)
    pools: dict[str, dict[str, Any]] = defaultdict(dict)
    by_pool: dict[str, list[Any]] = defaultdict(list)
    for spec in loaded.nodes:
        by_pool[spec.pool].append(spec)
    for pool_name, pool in loaded.pools.items():
        provider_name = str(pool.provider)  # type: ignore[attr-defined]  # every pool model has it
        provider = site.providers[provider_name]
        target = target_for(provider.type)
        settings = target.settings(pool_name, pool, provider, ctx)
        for i, n in enumerate(by_pool[pool_name]):
            instance = target.instance_of(provider_name, provider, pool, i)
            entry = pools[instance].setdefault(pool_name, {"nodes": {}, "settings": settings})
            entry["nodes"][n.name] = NodeInput.of(n, kept.get(n.name, ())).model_dump(mode="json")
    instances = _instances(loaded)
    for name in instances:
        pools.setdefault(name, {})
    return {"site": ctx.model_dump(mode="json"), "pools": dict(pools), "provider_settings": instances}


def _instances(loaded: LoadedSite) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, p in loaded.site.providers.items():
        out.update(target_for(p.type).instances(name, p))
    return out


def root_module(loaded: LoadedSite) -> str:
    site = loaded.site
    modules: list[dict[str, Any]] = []
    blocks: list[str] = []
    required: dict[str, TerraformProvider] = {}
    credentials = credential_variables(loaded)
    for provider_name, p in site.providers.items():
        target = target_for(p.type)
        tf = target.terraform_provider(p)
        for name in target.instances(provider_name, p):
            modules.append({"provider": name, "module": target.name, "local_name": tf.local_name if tf else None})
            if tf is not None:
                blocks.append(target.provider_block(name, credentials))
        if tf is not None:
            required.setdefault(tf.local_name, tf)  # versions agree: checked in kprov.site.meaning
    backend = None if site.state.backend == "local" else site.state.backend
    return _jinja().get_template("terraform/root/main.tf.j2").render(
        kprov_version=__version__, site_type=hcl_type(Site, indent=2), modules=modules, provider_blocks=blocks,
        credentials=credentials, required_providers=[required[k] for k in sorted(required)], backend=backend,
    )


def _sync_tree(src: Path, dst: Path) -> None:
    """Copy a module tree, rewriting only files that changed (keeps mtimes stable for Terraform)."""
    private_dir(dst)
    for f in src.rglob("*"):
        if f.is_dir() or f.name.startswith("."):
            continue
        target = dst / f.relative_to(src)
        if not target.exists() or not filecmp.cmp(f, target, shallow=False):
            if not target.parent.is_dir():
                private_dir(target.parent)
            shutil.copyfile(f, target)
            target.chmod(0o600)


def pool_files(loaded: LoadedSite) -> dict[str, str]:
    """Files target modules read (bare-metal boot files), by path relative to the Terraform root."""
    ctx = site_context(loaded)
    out: dict[str, str] = {}
    for pool_name, pool in loaded.pools.items():
        provider = loaded.site.providers[str(pool.provider)]  # type: ignore[attr-defined]
        out.update(target_for(provider.type).files(pool_name, pool, provider, ctx))
    return out


def _write_files(root: Path, files: dict[str, str], owned: tuple[str, ...]) -> None:
    """Write ``files`` under ``root``; remove what else is under the ``owned`` folders (machines that left)."""
    for rel, text in files.items():
        path = root / rel
        private_dir(path.parent)
        if not path.is_file() or path.read_text() != text:
            write_atomic(path, text)
    for top in owned:
        for path in sorted((root / top).rglob("*"), reverse=True) if (root / top).is_dir() else ():
            rel = str(path.relative_to(root))
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
            elif rel not in files:
                path.unlink()


def render_terraform(loaded: LoadedSite, workdir: Workdir) -> Path:
    tf = private_dir(workdir.terraform)
    write_atomic(tf / "main.tf", root_module(loaded))
    kept = snapshots.by_node(snapshots.load(workdir.snapshots_file))
    write_atomic(tf / TFVARS, json.dumps(tfvars(loaded, kept), indent=2, sort_keys=True) + "\n")
    _write_files(tf, pool_files(loaded), owned=("boot",))
    used = {p.type: target_for(p.type) for p in loaded.site.providers.values()}
    for name in sorted(used):
        _sync_tree(used[name].module_dir(), tf / "modules" / name)
    return tf


def render(loaded: LoadedSite, workdir: Workdir) -> None:
    """``kprov render``: the Terraform root and an inventory from the site's own node list."""
    workdir.ensure()
    render_terraform(loaded, workdir)
    inventory.write(workdir.inventory, loaded.site, [Node.from_spec(s) for s in loaded.nodes])
