"""Load a site file: size and characters → YAML → schema (pydantic) → per-target pool schemas → meaning checks.

Every problem is collected in one pass and reported as ``FILE:LINE:COL: path: message``. The fast path parses
with PyYAML's C loader; ruamel.yaml re-reads the file for positions only when there is something to report, so
a valid 1,000-node site loads in milliseconds.

Before YAML sees the file: a file over :data:`MAX_SITE_BYTES` is refused without being read, and a file with a
character YAML does not allow (a NUL, another control character) is refused with its position. A key written
twice in any mapping is refused with both positions, and aliases that expand past :data:`MAX_SITE_VALUES` values
are refused before anything validates them. Schema problems do not hide meaning problems: the meaning
checks run on the sections and pools that did validate.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from kprov.errors import Problem, SiteError
from kprov.site import meaning
from kprov.site.model import Kubernetes, Network, Site, Ssh
from kprov.site.types import NodeSpec, describe_pattern
from kprov.targets import provider_config_type, registry, target_for
from kprov.targets.base import Loc

MAX_SITE_BYTES = 1024 * 1024
"""The largest site file kprov reads: 1 MiB. A 10,000-node site takes a few hundred KiB, so a bigger file is not
a site file (a log, an image, a dump) and is refused from its size alone, before it is read or parsed."""

MAX_SITE_VALUES = 1_000_000
"""The most values (keys, scalars, lists, mappings) a site file may expand to through YAML aliases; a 10,000-node
site written out has about 100,000."""

_MIB = 1024 * 1024
M = TypeVar("M", bound=BaseModel)

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
"""Characters YAML does not allow in a file: C0 controls except tab, LF and CR; DEL; C1 controls except NEL;
the non-characters U+FFFE and U+FFFF. One regex search over the text, so a valid file pays next to nothing."""

_REPORTED_CHARACTERS = 10
"""At most this many refused characters are listed (a file full of them needs one look, not a thousand lines)."""


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

    @property
    def private_key(self) -> Path:
        return self.path(self.site.ssh.private_key)

    @property
    def public_key(self) -> Path | None:
        """The SSH public key new machines get, when a target of the site makes machines (else None)."""
        from kprov.targets import target_for  # noqa: PLC0415

        if not any(target_for(p.type).needs_public_key for p in self.site.providers.values()):
            return None
        return self.path(self.site.ssh.public_key or f"{self.site.ssh.private_key}.pub")


def keygen_hint(key: Path) -> str:
    """The command that creates a missing key pair."""
    private = key.with_suffix("") if key.suffix == ".pub" else key
    return f"create it: ssh-keygen -t ed25519 -f {private}"


_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.CSafeLoader):
    """PyYAML silently keeps the last of two equal keys; a site file with both is ambiguous, so refuse it.

    PyYAML builds nested mappings after their parents, but each one through :meth:`construct_mapping`, so every
    mapping at every depth is checked. Duplicates are collected (with both positions), not raised, so one run
    lists all of them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue  # '<<: *anchor' merges keys; a key it brings in may be overridden, that is its purpose
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: PyYAML's own construct_mapping refuses it, with its position
            if seen is not key_node.start_mark:
                mark = key_node.start_mark
                self.duplicates.append((mark.line + 1, mark.column + 1, f"duplicate key '{key}' (first at line "
                                                                        f"{seen.line + 1}, column {seen.column + 1})"))
        return super().construct_mapping(node, deep=deep)


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
        hint_model, hint_loc = model, loc
        if len(loc) >= 3 and loc[0] == "providers" and loc[2] in registry():
            # pydantic puts the union's tag in the path; the file has no such key. The tag names the target
            # whose provider model the "did you mean" hints come from.
            hint_model, hint_loc = registry()[str(loc[2])].provider_model, loc[3:]
            loc = loc[:2] + loc[3:]
        if err["type"] == "union_tag_invalid":
            loc = (*loc, "type")
        out.append((prefix + loc, _message(err, hint_model, hint_loc)))
    return out


def parse(data: Any) -> tuple[Site | None, dict[str, BaseModel], tuple[NodeSpec, ...], list[tuple[Loc, str]]]:
    """Validate already-loaded data. Returns what could be built and every problem found (locations, messages).

    Schema problems do not stop the meaning checks: when the site as a whole does not validate, its sections and
    pools that do are checked for meaning too, so one run reports a bad key and a duplicate address together."""
    if not isinstance(data, dict):
        return None, {}, (), [((), "the site file must be a mapping with apiVersion, kind, metadata, ...")]
    problems: list[tuple[Loc, str]] = []
    failed: set[str | int] = set()
    try:
        site: Site | None = Site.model_validate(data)
    except ValidationError as exc:
        site = None
        problems += _pydantic_problems(exc, Site)
        failed = {err["loc"][0] for err in exc.errors() if err["loc"]}  # the top-level sections with problems
    kubernetes: Kubernetes | None
    network: Network | None
    if site is not None:
        kubernetes, network, providers, user = site.kubernetes, site.network, dict(site.providers), site.ssh.user
        pools_valid = True
    else:
        kubernetes = _section(Kubernetes, data.get("kubernetes"))
        network = _section(Network, data.get("network"))
        ssh = _section(Ssh, data.get("ssh"))
        user = ssh.user if ssh is not None else "root"
        providers = _valid_providers(data.get("providers"))
        pools_valid = "pools" not in failed
    pools, nodes, complete, pool_problems = _pools(data.get("pools"), data.get("providers"), providers, user)
    problems += pool_problems
    parts = meaning.Parts(kubernetes, network, providers, nodes, complete=complete and pools_valid)
    problems += meaning.problems(parts)
    if site is None:
        return None, {}, (), problems
    return site, pools, tuple(nodes), problems


def _section(model: type[M], raw: Any) -> M | None:
    """One top-level section validated on its own (None: it has problems, which the whole site's reported)."""
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


@cache
def _provider_adapter() -> TypeAdapter[Any]:
    return TypeAdapter(provider_config_type())


def _valid_providers(raw: Any) -> dict[str, Any]:
    """The provider blocks that validate on their own, by name."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for name, block in raw.items():
        try:
            out[str(name)] = _provider_adapter().validate_python(block)
        except ValidationError:
            continue
    return out


def _pools(raw_pools: Any, raw_providers: Any, providers: Mapping[str, Any], ssh_user: str
           ) -> tuple[dict[str, BaseModel], list[NodeSpec], bool, list[tuple[Loc, str]]]:
    """Validate each pool with its provider's target: the pools that validate, their nodes, whether those are all
    the site's nodes, and the pools' problems.

    A pool whose provider block has problems is still checked against its target's pool schema. A pool with
    problems of its own (schema or its target's checks) adds no nodes: the site-wide checks look at clean pools."""
    if not isinstance(raw_pools, dict):
        return {}, [], False, []
    pools: dict[str, BaseModel] = {}
    nodes: list[NodeSpec] = []
    problems: list[tuple[Loc, str]] = []
    complete = True
    defined = raw_providers if isinstance(raw_providers, dict) else None
    for name, raw in raw_pools.items():
        pool_name = str(name)
        if not isinstance(raw, dict):
            complete = False  # the site schema says "must be a mapping"
            continue
        provider_name = raw.get("provider")
        provider = providers.get(provider_name) if isinstance(provider_name, str) else None
        if provider is None or not isinstance(provider_name, str):
            complete = False
            problems += _pool_without_provider(pool_name, raw, provider_name, defined)
            continue
        target = target_for(provider.type)
        try:
            pool = target.pool_model.model_validate(raw)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, target.pool_model, ("pools", pool_name))
            complete = False
            continue
        pools[pool_name] = pool
        own = [(("pools", pool_name, *loc), msg) for loc, msg in target.check(pool_name, pool, provider)]
        if own:
            problems += own
            complete = False
            continue
        nodes += target.nodes(pool_name, pool, provider_name, provider, ssh_user)
    return pools, nodes, complete, problems


def _pool_without_provider(pool_name: str, raw: dict[str, Any], provider_name: Any,
                           defined: dict[Any, Any] | None) -> list[tuple[Loc, str]]:
    """Problems of a pool whose provider did not validate: a missing or undefined provider, or (when the block
    exists but has problems of its own) the pool's own schema problems for the target that block names."""
    if defined is None:
        return []  # providers is not a mapping: the site schema says so
    known = ", ".join(sorted(str(n) for n in defined))
    if provider_name is None:
        return [(("pools", pool_name), "required key is missing")]
    if not isinstance(provider_name, str):
        return [(("pools", pool_name, "provider"), f"must be the name of a provider (defined: {known})")]
    if provider_name not in defined:
        return [(("pools", pool_name, "provider"),
                 f"'{provider_name}' is not defined under providers (defined: {known})")]
    block = defined[provider_name]
    kind = block.get("type") if isinstance(block, dict) else None
    if not isinstance(kind, str) or kind not in registry():
        return []  # the provider's own problems are reported at the provider
    target = target_for(kind)
    try:
        target.pool_model.model_validate(raw)
    except ValidationError as exc:
        return _pydantic_problems(exc, target.pool_model, ("pools", pool_name))
    return []


def load_site(path: Path, *, display_name: str | None = None) -> LoadedSite:
    """Load and fully validate a site file, or raise :class:`SiteError` listing every problem.

    ``display_name`` is the site file as the user named it; every message starts with it."""
    name = display_name or str(path)
    text = _read(path, name)
    data = _parse_yaml(text, name)
    site, pools, nodes, problems = parse(data)
    if problems:
        raise SiteError(locate(name, text, problems))
    assert site is not None
    return LoadedSite(site=site, source=path.resolve(), pools=pools, nodes=nodes, text=text, display=name)


def _read(path: Path, name: str) -> str:
    """The site file's text: refused from its size before it is read, then if it is not UTF-8 or holds a
    character YAML does not allow. Line ends are read as text mode reads them (CRLF and CR become LF)."""
    try:
        size = path.stat().st_size
        if size > MAX_SITE_BYTES:
            raise SiteError([Problem(name, 1, 1, "", _too_big(size))])
        with path.open("rb") as f:
            raw = f.read(MAX_SITE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SiteError([Problem(name, 1, 1, "", f"cannot read the site file: {reason}")]) from None
    if len(raw) > MAX_SITE_BYTES:  # not a regular file (a pipe), or it grew since stat
        raise SiteError([Problem(name, 1, 1, "", _too_big(None))])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_position(raw, exc.start)
        message = f"the site file is not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise SiteError([Problem(name, line, col, "", message)]) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _FORBIDDEN.search(text) is not None:
        raise SiteError([_forbidden_character(name, text, m) for m in
                         islice(_FORBIDDEN.finditer(text), _REPORTED_CHARACTERS)])
    return text


def _too_big(size: int | None) -> str:
    limit = f"the limit is {MAX_SITE_BYTES // _MIB} MiB"
    if size is None:
        return f"the site file is larger than {MAX_SITE_BYTES // _MIB} MiB; {limit}"
    shown = f"{size / _MIB:.1f} MiB"
    if shown == f"{MAX_SITE_BYTES / _MIB:.1f} MiB":  # just over: MiB would read as the limit itself
        return f"the site file is {size:,} bytes; {limit} ({MAX_SITE_BYTES:,} bytes)"
    return f"the site file is {shown}; {limit}"


def _forbidden_character(name: str, text: str, match: re.Match[str]) -> Problem:
    pos = match.start()
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = match.group()
    kind = "a non-character" if char in "\ufffe\uffff" else "a control character"
    return Problem(name, line, col, "", f"the site file contains {kind} (U+{ord(char):04X})")


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    """Line and column (1-based, in characters) of a byte offset."""
    start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, len(raw[start:offset].decode("utf-8", errors="replace")) + 1


def _parse_yaml(text: str, name: str) -> Any:
    """YAML to Python data with PyYAML's C loader, refusing duplicate keys and reporting syntax errors."""
    loader = _UniqueKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SiteError([Problem(name, line, col, "", f"YAML syntax: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:  # the reader's own refusals carry an offset, not a mark
        offset = getattr(exc, "position", 0)
        line, col = _byte_position(text.encode(), offset if isinstance(offset, int) else 0)
        raise SiteError([Problem(name, line, col, "", f"YAML: {getattr(exc, 'reason', None) or exc}")]) from None
    finally:
        loader.dispose()
    if loader.duplicates:
        raise SiteError([Problem(name, line, col, "", msg) for line, col, msg in sorted(loader.duplicates)])
    if _expanded_size(data, MAX_SITE_VALUES) > MAX_SITE_VALUES:
        raise SiteError([Problem(name, 1, 1, "", f"the site file expands to more than {MAX_SITE_VALUES:,} values "
                                 "through YAML aliases (*name); write the values out or use fewer aliases")])
    return data


def _expanded_size(data: Any, limit: int) -> int:
    """How many values ``data`` holds with every alias expanded, counting no further than just past ``limit``:
    PyYAML shares one object per anchor, so nested aliases ("billion laughs") are cheap to load and exponential
    to validate or render."""
    count = 0
    stack = [data]
    while stack and count <= limit:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
            count += len(value)  # the keys
        elif isinstance(value, list):
            stack.extend(value)
    return count


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


def check_kubernetes_version(loaded: LoadedSite, tree: Path | None = None) -> None:
    """Refuse a Kubernetes version the site's Kubespray cannot install, before any machine is touched. ``tree``:
    the Kubespray tree to check against; by default the site's own, if it is on disk already."""
    from kprov.tools.kubespray import local_tree, supported_versions  # noqa: PLC0415

    tree = tree or local_tree(loaded.site.kubernetes.kubespray, loaded.base_dir)
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
    from kprov.tools.kubespray import local_tree  # noqa: PLC0415

    site, name = loaded.site, loaded.display or str(loaded.source)
    out: list[str] = []
    private, public = loaded.private_key, loaded.public_key
    if not private.is_file():
        out.append(f"{name}: ssh.private_key {private} does not exist ({keygen_hint(private)})")
    if public is not None and not public.is_file():
        out.append(f"{name}: ssh.public_key {public} does not exist; render, plan and up need it for new "
                   f"machines ({keygen_hint(public)})")
    ref = site.kubernetes.kubespray
    tree = local_tree(ref, loaded.base_dir)
    if ref.path is not None and (tree is None or not tree.is_dir()):
        out.append(f"{name}: kubernetes.kubespray.path {tree} does not exist")
    elif tree is None:
        out.append(f"{name}: kubernetes.version {site.kubernetes.version} not checked: Kubespray {ref.version} is "
                   "not on disk yet (`kprov up` fetches it, then checks)")
    return out
