"""Command line. It parses, builds a context, calls the library, and maps errors to exit codes; nothing else.

The library is imported inside each command: a no-op `kprov up` must not pay for pydantic, Jinja, Terraform,
Ansible and testinfra imports it does not use (see :mod:`kprov.fastpath`).
"""
# ruff: noqa: PLC0415

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kprov import __version__
from kprov.errors import KprovError, UsageError
from kprov.events import Events, HumanSink, JsonSink
from kprov.exitcodes import ExitCode
from kprov.workdir import Workdir

if TYPE_CHECKING:
    from kprov import pipeline
    from kprov.sitefile import LoadedSite

F = TypeVar("F", bound=Callable[..., Any])


class Options:
    def __init__(self, output: str, workdir: Path | None, verbose: bool) -> None:
        self.output = output
        self.workdir = workdir
        self.verbose = verbose
        sinks: list[Any] = [HumanSink(verbose=verbose)]
        if output == "json":
            sinks.append(JsonSink())
        self.events = Events(sinks)


def site_argument(f: F) -> F:
    return click.argument("site_file", type=click.Path(path_type=Path, dir_okay=False))(f)


def _load(site_file: Path) -> LoadedSite:
    from kprov.sitefile import load_site

    return load_site(site_file, display_name=str(site_file))


def _context(opts: Options, site_file: Path, command: str, force: bool = False) -> pipeline.Context:
    from kprov import pipeline

    loaded = _load(site_file)
    workdir = Workdir.for_site(site_file, loaded.name, opts.workdir)
    return pipeline.Context(loaded=loaded, workdir=workdir, events=opts.events, force=force, command=command)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kprov")
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="json: one event per line on stdout (human progress stays on stderr).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False),
              help="Site workdir (default: .kprov/<site> next to the site file).")
@click.option("--verbose", "-v", is_flag=True, help="Show every task and check as it happens.")
@click.pass_context
def cli(ctx: click.Context, output: str, workdir: Path | None, verbose: bool) -> None:
    """Provision Kubernetes sites: machines with Terraform, Kubernetes with Kubespray, proof with testinfra."""
    ctx.obj = Options(output, workdir, verbose)


@cli.command()
@site_argument
@click.pass_obj
def validate(opts: Options, site_file: Path) -> None:
    """Check the site file (schema and meaning) without touching anything."""
    from kprov import pipeline

    loaded = _load(site_file)
    pipeline.validate(loaded)
    opts.events.emit("validate", "result", f"{site_file}: valid ({len(loaded.nodes)} nodes)", valid=True,
                     nodes=len(loaded.nodes))


@cli.command()
@click.option("--target", required=True, help="Which kind of machines the site starts with.",
              type=click.Choice(["static", "vsphere", "libvirt", "proxmox", "openstack",
                                 "hybrid-vsphere-static", "hybrid-vsphere-baremetal"]))
def init(target: str) -> None:
    """Print a commented example site file to start from: kprov init --target vsphere > site.yaml"""
    from kprov.paths import asset_dir

    click.echo((asset_dir("examples") / f"{target}.yaml").read_text(), nl=False)


@cli.command()
@site_argument
@click.argument("node")
@click.argument("action", type=click.Choice(["on", "off", "cycle", "status"]))
@click.pass_obj
def power(opts: Options, site_file: Path, node: str, action: str) -> None:
    """Power a bare-metal node on, off or through a cycle with its BMC, or show its power state."""
    from kprov import machine

    loaded = _load(site_file)
    state = machine.power_node(loaded, node, action)  # type: ignore[arg-type]  # click checked the choice
    opts.events.emit("power", "result", f"{node}: {state}", host=node, action=action, power=str(state))


@cli.command()
def schema() -> None:
    """Print the site file's JSON Schema (for editors)."""
    from kprov.schema import site_schema

    click.echo(json.dumps(site_schema(), indent=2))


@cli.command()
@site_argument
@click.pass_obj
def render(opts: Options, site_file: Path) -> None:
    """Write the site workdir: Terraform root module, tfvars and Kubespray inventory."""
    from kprov import pipeline
    from kprov import render as render_mod

    ctx = _context(opts, site_file, "render")
    pipeline.validate(ctx.loaded)
    render_mod.render(ctx.loaded, ctx.workdir)
    opts.events.emit("render", "result", f"rendered into {ctx.workdir.root}", workdir=str(ctx.workdir.root))


@cli.command()
@site_argument
@click.pass_obj
def plan(opts: Options, site_file: Path) -> None:
    """Show what Terraform would change and which Kubespray playbook would run."""
    from kprov import pipeline

    ctx = _context(opts, site_file, "plan")
    pipeline.validate(ctx.loaded)
    pipeline.plan(ctx)


@cli.command()
@site_argument
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.pass_obj
def up(opts: Options, site_file: Path, force: bool) -> None:
    """Make the site real: infra, inventory, SSH, preflight, Kubespray, kubeconfig, verify."""
    if not force:
        from kprov.fastpath import converged_workdir
        from kprov.state import STAGES

        workdir = converged_workdir(site_file, opts.workdir)
        if workdir is not None:
            for stage in STAGES:
                opts.events.emit(stage, "stage_skip", "inputs unchanged since the last successful run")
            opts.events.emit("up", "result", f"site is up; kubeconfig: {workdir / 'kubeconfig'}",
                             kubeconfig=str(workdir / "kubeconfig"))
            return
    from kprov import pipeline

    ctx = _context(opts, site_file, "up", force)
    pipeline.validate(ctx.loaded)
    pipeline.up(ctx)
    opts.events.emit("up", "result", f"site is up; kubeconfig: {ctx.workdir.kubeconfig}",
                     kubeconfig=str(ctx.workdir.kubeconfig))


@cli.command()
@site_argument
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here.")
@click.pass_obj
def verify(opts: Options, site_file: Path, junit: Path | None) -> None:
    """Run testinfra checks on every node; exit 6 if any fails."""
    from kprov import pipeline

    pipeline.verify(_context(opts, site_file, "verify"), junit)


@cli.command()
@site_argument
@click.pass_obj
def status(opts: Options, site_file: Path) -> None:
    """Show stages, nodes and lock holder of a site."""
    from kprov import pipeline

    pipeline.status(_context(opts, site_file, "status"))


@cli.command()
@site_argument
@click.pass_obj
def kubeconfig(opts: Options, site_file: Path) -> None:
    """Print the path of the site's kubeconfig (export KUBECONFIG=$(kprov kubeconfig site.yaml))."""
    ctx = _context(opts, site_file, "kubeconfig")
    if not ctx.workdir.kubeconfig.exists():
        raise UsageError(f"site {ctx.loaded.name} has no kubeconfig yet: run `kprov up` first")
    click.echo(str(ctx.workdir.kubeconfig))


@cli.command()
@site_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--skip-reset", is_flag=True, help="Destroy without running Kubespray's reset.yml first.")
@click.pass_obj
def down(opts: Options, site_file: Path, yes: bool, skip_reset: bool) -> None:
    """Reset the nodes (Kubespray reset.yml), then terraform destroy."""
    from kprov import pipeline

    ctx = _context(opts, site_file, "down")
    pipeline.confirm_destroy(ctx.loaded.name, yes, lambda q: click.confirm(q, err=True))
    pipeline.down(ctx, skip_reset=skip_reset)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error becomes one message per line and its documented exit code."""
    try:
        cli.main(args=argv, prog_name="kprov", standalone_mode=False)
    except KprovError as exc:
        for line in exc.lines():
            click.echo(f"kprov: {line}" if exc.exit_code != ExitCode.INVALID_SITE else line, err=True)
        sys.exit(int(exc.exit_code))
    except click.exceptions.Abort:
        click.echo("kprov: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.ClickException as exc:
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    except KeyboardInterrupt:
        click.echo("kprov: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except Exception as exc:
        if os.environ.get("KPROV_DEBUG"):
            traceback.print_exc()
        click.echo(f"kprov: internal error: {type(exc).__name__}: {exc} (set KPROV_DEBUG=1 for a traceback)",
                   err=True)
        sys.exit(int(ExitCode.ERROR))
    sys.exit(0)
