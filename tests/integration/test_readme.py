"""The README's tables are the tool's: every command and every option it takes, every installed target and every
key its provider block and pools accept."""

from __future__ import annotations

import re
from pathlib import Path

import click

from kprov import api
from kprov.cli import cli
from kprov.targets import registry
from kprov.targets.vm import VmPool

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _table(heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading``, as cells."""
    section = README[README.index(heading):]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip("|").split(" | ")])
        elif rows:
            break
    return rows[2:]  # header and separator


def _fields(model: type) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}  # type: ignore[attr-defined]


def test_the_command_table_has_every_command_and_every_option() -> None:
    rows = {re.match(r"`kprov (\w+)", r[0]).group(1): " ".join(r) for r in _table("## Commands")}  # type: ignore[union-attr]
    assert set(rows) == set(cli.commands)
    for name, command in cli.commands.items():
        subcommands = command.commands if isinstance(command, click.Group) else {}
        for sub in subcommands:
            assert sub in rows[name], f"kprov {name} {sub} is not in the README's table"
        for param in [p for c in [command, *subcommands.values()] for p in c.params]:
            # every subcommand takes --output, --verbose and --junit (documented once, under the global options)
            if isinstance(param, click.Option) and param.name not in ("sub_output", "sub_verbose", "sub_junit"):
                assert param.opts[0] in rows[name], f"kprov {name} {param.opts[0]} is not in the README's table"
    global_line = README[README.index("Global options:"):].split("\n\n")[0]
    for param in cli.params:
        assert param.opts[0] in global_line, f"global option {param.opts[0]} is not documented"


def test_the_target_table_is_the_registry() -> None:
    rows = {re.match(r"`(\w+)`", r[0]).group(1): r for r in _table("### Targets")}  # type: ignore[union-attr]
    assert set(rows) == set(registry())
    for name, target in registry().items():
        _, _, provider_cell, pool_cell = rows[name]
        for key in _fields(target.provider_model) - {"type", "terraform_provider_version"}:
            assert f"`{key}`" in provider_cell, f"{name}: provider key {key} is not in the README's table"
        shared = _fields(VmPool) if "VM pool keys" in pool_cell else set()
        for key in _fields(target.pool_model) - shared:
            assert re.search(rf"\b{key}\b", pool_cell), f"{name}: pool key {key} is not in the README's table"


def test_every_target_and_hybrid_example_can_be_started_with_init() -> None:
    init = cli.commands["init"]
    (target,) = [p for p in init.params if p.name == "target"]
    choices = list(target.type.choices)  # type: ignore[attr-defined]
    assert set(registry()) <= set(choices)
    line = README[README.index("`kprov init --target\n"):].split("prints")[0]
    assert set(re.search(r"--target\s+([\w|-]+)", line).group(1).split("|")) == set(choices)  # type: ignore[union-attr]


def test_the_first_lines_install_kprov_and_bring_up_an_example_that_validates() -> None:
    block = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(block) == 2 and "pip install ." in block[0]
    example = re.search(r"kprov up (\S+)", block[1])
    assert example is not None and example.group(1) == "examples/local.yaml"
    assert api.validate(ROOT / example.group(1)).nodes == 3
