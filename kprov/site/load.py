"""Load a site file: YAML → schema (pydantic) → per-target pool schemas → meaning checks.

Every problem is collected in one pass and reported as ``FILE:LINE:COL: path: message``. The fast path parses
with PyYAML's C loader; ruamel.yaml re-reads the file for positions only when there is something to report, so
a valid 1,000-node site loads in milliseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from kprov.errors import Problem, SiteError
from kprov.site import meaning
from kprov.site.model import Site
from kprov.site.types import NodeSpec, describe_pattern
from kprov.targets import registry, target_for
from kprov.targets.base import Loc


@dataclass(frozen=True)
class LoadedSite:
    """A valid site: the model, its typed pools, its nodes, and where it came from."""

    site: Site
    source: Path
    pools: dict[str, BaseModel]
    nodes: tuple[NodeSpec, ...]
    text: str
    display: str = ""
    """The site file's name as the user gave it, for messages."""

    @property
    def name(self) -> str:
        return self.site.metadata.name

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def path(self, value: str) -> Path:
        """A path written in the site file, anchored at the site file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


class _UniqueKeyLoader(yaml.CSafeLoader):
    """PyYAML silently keeps the last of two equal keys; a site file with both is ambiguous, so refuse it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                mark = key_node.start_mark
                raise _DuplicateKey(f"duplicate key '{key}'", mark.line + 1, mark.column + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


_MESSAGES = {
    "missing": "required key is missing",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "ip_v4_address": "must be an IPv4 address",
    "ip_v4_network": "must be an IPv4 network in CIDR form with no host bits set, such as 10.0.0.0/24",
}


def _message(err: Any, model: type[BaseModel] | None, loc: Loc) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        hint = ""
        fields = _fields_at(model, loc[:-1]) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        if close:
            hint = f" (did you mean '{close[0]}'?)"
        return f"unknown key{hint}"
    if kind == "string_pattern_mismatch":
        return f"'{err.get('input')}' is not {describe_pattern(err['ctx']['pattern'])}"
    if kind == "union_tag_invalid":
        return f"'{err['ctx']['tag']}' is not a target kprov has ({', '.join(registry())})"
    if kind == "union_tag_not_found":
        return f"required key 'type' is missing (one of {', '.join(registry())})"
    if kind in ("less_than_equal", "greater_than_equal"):
        word = "at most" if kind == "less_than_equal" else "at least"
        bound = err["ctx"]["le" if kind == "less_than_equal" else "ge"]
        return f"must be {word} {bound}"
    if kind in ("literal_error", "enum"):
        return f"must be one of {err['ctx']['expected']}"
    if kind in ("value_error", "assertion_error"):
        return str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return _MESSAGES.get(kind, str(err["msg"]))


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The allowed key names at ``loc`` in ``model``, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return []
        info = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        if info is None:
            current = None
            continue
        current = _model_in(info.annotation)
    if current is None or not hasattr(current, "model_fields"):
        return []
    return [f.alias or n for n, f in current.model_fields.items()]


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _pydantic_problems(exc: ValidationError, model: type[BaseModel], prefix: Loc = ()) -> list[tuple[Loc, str]]:
    out = []
    for err in exc.errors():
        loc = tuple(part for part in err["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        if len(loc) >= 3 and loc[0] == "providers" and loc[2] in registry():
            loc = loc[:2] + loc[3:]  # pydantic puts the union's tag in the path; the file has no such key
        if err["type"] == "union_tag_invalid":
            loc = (*loc, "type")
        out.append((prefix + loc, _message(err, model, loc)))
    return out


def parse(data: Any) -> tuple[Site | None, dict[str, BaseModel], tuple[NodeSpec, ...], list[tuple[Loc, str]]]:
    """Validate already-loaded data. Returns what could be built and every problem found (locations, messages)."""
    if not isinstance(data, dict):
        return None, {}, (), [((), "the site file must be a mapping with apiVersion, kind, metadata, ...")]
    try:
        site = Site.model_validate(data)
    except ValidationError as exc:
        problems = _pydantic_problems(exc, Site)
        # Still check the pools we can, so one run shows every problem.
        problems += _pool_problems_only(data)
        return None, {}, (), problems
    pools: dict[str, BaseModel] = {}
    problems = []
    nodes: list[NodeSpec] = []
    for pool_name, raw in site.pools.items():
        provider_name = raw.get("provider")
        if provider_name not in site.providers:
            known = ", ".join(sorted(site.providers))
            loc: Loc = ("pools", pool_name, "provider") if provider_name is not None else ("pools", pool_name)
            what = f"'{provider_name}' is not defined under providers" if provider_name else "required key is missing"
            problems.append((loc, f"{what} (defined: {known})" if provider_name else what))
            continue
        provider = site.providers[provider_name]
        target = target_for(provider.type)
        try:
            pool = target.pool_model.model_validate(raw)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, target.pool_model, ("pools", pool_name))
            continue
        pools[pool_name] = pool
        problems += [(("pools", pool_name, *loc), msg) for loc, msg in target.check(pool_name, pool, provider)]
        nodes += target.nodes(pool_name, pool, provider_name, provider, site.ssh.user)
    if not problems:
        problems += meaning.site_problems(site, nodes)
    return site, pools, tuple(nodes), problems


def _pool_problems_only(data: dict[str, Any]) -> list[tuple[Loc, str]]:
    providers = data.get("providers")
    pools = data.get("pools")
    if not isinstance(providers, dict) or not isinstance(pools, dict):
        return []
    out: list[tuple[Loc, str]] = []
    for pool_name, raw in pools.items():
        if not isinstance(raw, dict):
            continue
        prov = providers.get(raw.get("provider"))
        if not isinstance(prov, dict) or prov.get("type") is None:
            continue
        try:
            target = target_for(str(prov["type"]))
        except KeyError:
            continue
        try:
            target.pool_model.model_validate(raw)
        except ValidationError as exc:
            out += _pydantic_problems(exc, target.pool_model, ("pools", pool_name))
    return out


def load_site(path: Path, *, display_name: str | None = None) -> LoadedSite:
    """Load and fully validate a site file, or raise :class:`SiteError` listing every problem."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SiteError([Problem(name, 1, 1, "", f"cannot read the site file: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise SiteError([Problem(name, 1, 1, "", "the site file is not UTF-8 text")]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader subclass
    except _DuplicateKey as exc:
        raise SiteError([Problem(name, exc.line, exc.col, "", exc.message)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SiteError([Problem(name, line, col, "", f"YAML syntax: {exc.problem or exc}")]) from None
    site, pools, nodes, problems = parse(data)
    if problems:
        raise SiteError(locate(name, text, problems))
    assert site is not None
    return LoadedSite(site=site, source=path.resolve(), pools=pools, nodes=nodes, text=text, display=name)


def format_loc(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def locate(name: str, text: str, problems: Iterable[tuple[Loc, str]]) -> list[Problem]:
    """Turn (location, message) pairs into positioned problems, reading positions with ruamel.yaml."""
    try:
        tree = YAML(typ="rt").load(text)
    except MarkedYAMLError:
        tree = None
    located = []
    for loc, msg in problems:
        # pydantic marks a bad mapping key with a trailing "[key]": point at the key, not its value.
        at_key = msg.startswith("unknown key") or (bool(loc) and loc[-1] == "[key]")
        where = loc[:-1] if loc and loc[-1] == "[key]" else loc
        located.append(Problem(name, *_position(tree, where, at_key=at_key), format_loc(where), msg))
    unique = list(dict.fromkeys(located))
    return sorted(unique, key=lambda p: (p.line, p.col, p.path))


def _position(tree: Any, loc: Loc, *, at_key: bool) -> tuple[int, int]:
    """Line and column (1-based) for ``loc``: a bad value points at the value, an unknown key at the key, and a
    missing key at the mapping that lacks it."""
    node = tree
    key_pos, value_pos = (0, 0), (0, 0)
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            kl, kc, vl, vc = node.lc.data[part]
            key_pos, value_pos = (kl, kc), (vl, vc)
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line, col = node.lc.data[part]
            key_pos = value_pos = (line, col)
        else:
            return key_pos[0] + 1, key_pos[1] + 1
        node = node[part]
    line, col = key_pos if at_key or not _is_scalar(node) else value_pos
    return line + 1, col + 1
def _is_scalar(value: Any) -> bool:
    return not isinstance(value, CommentedMap | CommentedSeq)


def check_kubernetes_version(loaded: LoadedSite, tree: Path | None) -> None:
    """Refuse a Kubernetes version the site's Kubespray cannot install, before any machine is touched."""
    from kprov.tools.kubespray import supported_versions  # noqa: PLC0415

    if tree is None:
        return
    supported = supported_versions(tree)
    version = loaded.site.kubernetes.version
    if supported and version not in supported:
        ordered = sorted(supported, key=lambda v: tuple(int(x) for x in v.split(".")))
        msg = f"Kubernetes {version} is not supported by this Kubespray (supported: {ordered[0]} to {ordered[-1]})"
        raise SiteError(locate(loaded.display or str(loaded.source), loaded.text, [(("kubernetes", "version"), msg)]))


def warnings(loaded: LoadedSite) -> list[str]:
    """What a valid site still lacks for ``up``, worth saying at ``validate`` time (files that only later commands
    read, a version that could not be checked yet). Each names the site file and says how to fix it."""
    from kprov.targets import target_for  # noqa: PLC0415
    from kprov.tools.kubespray import local_tree  # noqa: PLC0415

    site, name = loaded.site, loaded.display or str(loaded.source)
    out: list[str] = []
    private = loaded.path(site.ssh.private_key)
    if not private.is_file():
        out.append(f"{name}: ssh.private_key {private} does not exist (create it: ssh-keygen -t ed25519 -f {private})")
    if any(target_for(p.type).needs_public_key for p in site.providers.values()):
        public = loaded.path(site.ssh.public_key or f"{site.ssh.private_key}.pub")
        if not public.is_file():
            out.append(f"{name}: ssh.public_key {public} does not exist; render, plan and up need it for new "
                       f"machines (create it: ssh-keygen -t ed25519 -f {public.with_suffix('')})")
    ref = site.kubernetes.kubespray
    tree = local_tree(ref, loaded.base_dir)
    if ref.path is not None and (tree is None or not tree.is_dir()):
        out.append(f"{name}: kubernetes.kubespray.path {tree} does not exist")
    elif tree is None:
        out.append(f"{name}: kubernetes.version {site.kubernetes.version} not checked: Kubespray {ref.version} is "
                   "not on disk yet (`kprov up` fetches it, then checks)")
    return out
