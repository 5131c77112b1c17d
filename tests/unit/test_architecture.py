"""The package's shape, held by its imports: stages never import commands, the engine knows no stage, command or
target, nothing outside a target's own files imports it, the CLI goes through kprov.api, and no module-level
import circle exists anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kprov"


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports (``from a import b`` counts as ``a.b`` when that is a module, else ``a``)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:
            continue  # `if TYPE_CHECKING:` blocks
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                out.add(name if _exists(name) else node.module)
    return {m for m in out if m == "kprov" or m.startswith("kprov.")}


def _exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


FILES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def test_stages_never_import_commands_and_the_engine_knows_no_stage_command_or_target() -> None:
    for name, path in FILES.items():
        imported = _imports(path, top_level_only=False)
        if name.startswith("kprov.stages"):
            assert not {m for m in imported if m.startswith("kprov.commands")}, name
        if name.startswith("kprov.engine"):
            assert not {m for m in imported if m.startswith(("kprov.stages", "kprov.commands", "kprov.targets."))}, name


def test_only_a_targets_own_files_import_it() -> None:
    targets = {_module(p) for p in (PACKAGE / "targets").iterdir()
               if p.name not in ("__init__.py", "base.py", "vm.py", "machines.py", "contract.py", "__pycache__")}
    for name, path in FILES.items():
        for target in targets:
            if name == target or name.startswith(f"{target}."):
                continue
            hits = {m for m in _imports(path, top_level_only=False) if m == target or m.startswith(f"{target}.")}
            assert not hits, f"{name} imports {hits}: go through the target registry"


def test_the_cli_goes_through_the_api() -> None:
    allowed = {"kprov", "kprov.api", "kprov.errors", "kprov.events", "kprov.exitcodes", "kprov.junit"}  # renderings
    assert _imports(PACKAGE / "cli.py", top_level_only=False) <= allowed


def test_no_import_circle_at_module_level() -> None:
    graph = {name: {m for m in _imports(path, top_level_only=True) if m in FILES and m != name}
             for name, path in FILES.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
