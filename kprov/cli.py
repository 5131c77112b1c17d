"""Command line: it parses, calls :mod:`kprov.api`, and renders results; errors become their exit codes.

Nothing heavy is imported at start-up: :mod:`kprov.api` defers every import to the command that needs it, so a
no-op ``kprov up`` and ``kprov --help`` stay near Python's own start-up time.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kprov import __version__, api
from kprov.errors import KprovError, SiteError
from kprov.events import Events, HumanSink, JsonSink, json_requested
from kprov.exitcodes import ExitCode
from kprov.junit import JUnitSink

F = TypeVar("F", bound=Callable[..., Any])


_JSON: JsonSink | None = None
"""The process's JSON sink when ``--output json`` was asked for anywhere on the command line (see :func:`main`)."""


_JUNIT: JUnitSink | None = None
"""The process's JUnit report when a subcommand got ``--junit FILE`` (written by :func:`main` at exit)."""


class Options:
    """The global options, which every subcommand also takes (``kprov up site.yaml -o json``); the events are
    made on first use, after both were parsed."""

    def __init__(self, output: str, workdir: Path | None, verbose: bool) -> None:
        self.output = output
        self.workdir = workdir
        self.verbose = verbose
        self._events: Events | None = None

    @property
    def events(self) -> Events:
        if self._events is None:
            sinks: list[Any] = [HumanSink(verbose=self.verbose, reports=sys.stdout if self.output == "human" else None)]
            if self.output == "json":
                sinks.append(_JSON if _JSON is not None else JsonSink())
            if _JUNIT is not None:
                sinks.append(_JUNIT)
            self._events = Events(sinks)
        return self._events


class KprovCommand(click.Command):
    """Every subcommand takes ``--output`` and ``--verbose`` too, after its name, as they are shown in its
    ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params += [
            click.Option(["--output", "-o", "sub_output"], type=click.Choice(["human", "json"]), default=None,
                         help="json: one event per line on stdout (also accepted before the subcommand)."),
            click.Option(["--verbose", "-v", "sub_verbose"], is_flag=True, default=False,
                         help="Show every task and check as it happens."),
        ]
        if not any(p.name == "junit" for p in self.params):  # (verify writes its own, a case per check)
            self.params.append(click.Option(
                ["--junit", "sub_junit"], type=click.Path(path_type=Path, dir_okay=False), default=None,
                help="Also write a JUnit report: a test case per stage and per node it acted on."))

    def invoke(self, ctx: click.Context) -> Any:
        global _JUNIT  # noqa: PLW0603 - one report per process, written by main() once the exit code is known
        junit = ctx.params.pop("sub_junit", None)
        if junit is not None:
            _JUNIT = JUnitSink(junit, ctx.command_path.removeprefix("kprov ").replace(" ", "-"))
        output, verbose = ctx.params.pop("sub_output", None), ctx.params.pop("sub_verbose", False)
        opts = ctx.find_object(Options)
        if opts is not None:
            opts.output = output or opts.output
            opts.verbose = opts.verbose or verbose
        return super().invoke(ctx)


class KprovGroup(click.Group):
    command_class = KprovCommand
    group_class = type  # subgroups (etcd, snapshot) are KprovGroups: their commands take the options too


def _print(opts: Options, command: str, text: str, **data: Any) -> None:
    """A command whose answer is a document: as is on stdout, or with ``--output json`` (where stdout holds only
    JSON lines) as the data of its ``result`` event."""
    if opts.output == "json":
        opts.events.emit(command, "result", "", **data)
    else:
        click.echo(text, nl=False)


def site_argument(f: F) -> F:
    # no existence or kind check here: the site loader reports a missing file and a directory alike (exit 3)
    return click.argument("site_file", type=click.Path(path_type=Path))(f)


class _Choices(click.Choice):  # type: ignore[type-arg]
    """Choices read from the target registry when click needs them (help, parsing), not at start-up."""

    def __init__(self, source: Callable[[], list[str]]) -> None:
        self._source = source
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self._source())

    @choices.setter
    def choices(self, value: object) -> None:
        """click.Choice sets its choices once; these come from the registry instead."""


@click.group(cls=KprovGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kprov")
@click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True,
              help="json: one event per line on stdout (human progress stays on stderr).")
@click.option("--workdir", type=click.Path(path_type=Path, file_okay=False),
              help="Site workdir (default: .kprov/<site> next to the site file).")
@click.option("--verbose", "-v", is_flag=True, help="Show every task and check as it happens.")
@click.option("--lock-timeout", type=click.IntRange(0, 86400), metavar="SECONDS",
              help="How long Terraform waits for a state lock another process holds, then fails naming it "
                   "(default 60; also KPROV_LOCK_TIMEOUT).")
@click.pass_context
def cli(ctx: click.Context, output: str, workdir: Path | None, verbose: bool, lock_timeout: int | None) -> None:
    """Provision Kubernetes sites: machines with Terraform, Kubernetes with Kubespray, proof with testinfra."""
    if lock_timeout is not None:
        os.environ["KPROV_LOCK_TIMEOUT"] = str(lock_timeout)  # what kprov.tools.terraform reads
    ctx.obj = Options(output, workdir, verbose)


@cli.command()
@site_argument
@click.pass_obj
def validate(opts: Options, site_file: Path) -> None:
    """Check the site file (schema and meaning) without touching anything."""
    api.validate(site_file, events=opts.events)


@cli.command()
@click.option("--target", required=True, type=_Choices(api.examples),
              help="Which kind of machines the site starts with (a target, or a hybrid example).")
@click.pass_obj
def init(opts: Options, target: str) -> None:
    """Print a commented example site file to start from: kprov init --target vsphere > site.yaml"""
    example = api.example(target)
    _print(opts, "init", example, example=example, target=target)


@cli.command()
@site_argument
@click.argument("node")
@click.argument("action", type=click.Choice(["on", "off", "cycle", "status"]))
@click.pass_obj
def power(opts: Options, site_file: Path, node: str, action: str) -> None:
    """Power a bare-metal node on, off or through a cycle with its BMC, or show its power state."""
    api.power(site_file, node, action, workdir=opts.workdir, events=opts.events)


@cli.command()
@click.argument("site_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--fix", is_flag=True, help="Make the fixes kprov can make safely on this machine, then check again.")
@click.option("--image", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="With --fix: a rootfs (or LXD image) tarball to import where the site's image is missing.")
@click.pass_obj
def doctor(opts: Options, site_file: Path | None, fix: bool, image: Path | None) -> None:
    """Check what this machine and the site need before anything runs; print the fix for each problem."""
    if image is not None and not fix:
        raise click.UsageError("--image is only used with --fix")
    api.doctor(site_file, fix=fix, image=image, events=opts.events)


@cli.command()
@click.option("--impact", is_flag=True, help="The schema of `kprov plan`'s impact document instead.")
@click.option("--events", is_flag=True, help="The schema of one event of `--output json` instead.")
@click.pass_obj
def schema(opts: Options, impact: bool, events: bool) -> None:
    """Print the site file's JSON Schema (for editors)."""
    found = api.schema(impact=impact, events=events)
    _print(opts, "schema", json.dumps(found, indent=2) + "\n", schema=found)


@cli.command()
@site_argument
@click.pass_obj
def render(opts: Options, site_file: Path) -> None:
    """Write the site workdir: Terraform root module, tfvars and Kubespray inventory."""
    api.render(site_file, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write a plan file that `kprov apply` applies exactly as shown (no secret in it).")
@click.pass_obj
def plan(opts: Options, site_file: Path, out: Path | None) -> None:
    """Show what Terraform would change and which Kubespray playbook would run."""
    api.plan(site_file, out=out, workdir=opts.workdir, events=opts.events)


@cli.command()
@click.argument("plan_file", type=click.Path(path_type=Path))
@click.pass_obj
def apply(opts: Options, plan_file: Path) -> None:
    """Apply the Terraform part of PLAN_FILE exactly as reviewed; refused if anything changed since."""
    api.apply(plan_file, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.pass_obj
def preflight(opts: Options, site_file: Path) -> None:
    """Check the nodes before Kubespray: OS, memory, swap, time, unique hostnames, free ports, reachability."""
    api.preflight(site_file, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.pass_obj
def bootstrap(opts: Options, site_file: Path) -> None:
    """Kubespray on the machines Terraform made: SSH wait, preflight, playbooks, kubeconfig."""
    api.bootstrap(site_file, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.pass_obj
def up(opts: Options, site_file: Path, force: bool) -> None:
    """Make the site real: infra, inventory, SSH, preflight, Kubespray, kubeconfig, verify."""
    api.up(site_file, force=force, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.option("--junit", type=click.Path(path_type=Path, dir_okay=False), help="Also write JUnit XML here.")
@click.option("--check", "checks", multiple=True, metavar="NAME",
              help="Only the checks of this name or tag (repeat for more): kubelet, etcd, control-plane, ...")
@click.pass_obj
def verify(opts: Options, site_file: Path, junit: Path | None, checks: tuple[str, ...]) -> None:
    """Run testinfra checks on every node; exit 6 if any fails."""
    api.verify(site_file, junit=junit, checks=checks, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.pass_obj
def status(opts: Options, site_file: Path) -> None:
    """Show stages, nodes, the last runs and the lock holder of a site."""
    api.status(site_file, workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.pass_obj
def kubeconfig(opts: Options, site_file: Path) -> None:
    """Print the path of the site's kubeconfig (export KUBECONFIG=$(kprov kubeconfig site.yaml))."""
    path = str(api.kubeconfig(site_file, workdir=opts.workdir))
    _print(opts, "kubeconfig", path + "\n", kubeconfig=path)


@cli.command()
@site_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--skip-reset", is_flag=True, help="Destroy without running Kubespray's reset.yml first.")
@click.pass_obj
def down(opts: Options, site_file: Path, yes: bool, skip_reset: bool) -> None:
    """Reset the nodes (Kubespray reset.yml), then terraform destroy."""
    api.down(site_file, yes=yes, ask=lambda q: click.confirm(q, err=True), skip_reset=skip_reset,
             workdir=opts.workdir, events=opts.events)


@cli.command()
@site_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.pass_obj
def unlock(opts: Options, site_file: Path, yes: bool) -> None:
    """Break a Terraform state lock a dead process left, after naming its holder (asks first)."""
    api.unlock(site_file, yes=yes, ask=lambda q: click.confirm(q, err=True), workdir=opts.workdir,
               events=opts.events)


@cli.command()
@site_argument
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.pass_obj
def scale(opts: Options, site_file: Path, yes: bool) -> None:
    """Add or remove the nodes an edit of a running site adds or removes (asks first)."""
    api.scale(site_file, yes=yes, ask=lambda q: click.confirm(q, err=True), workdir=opts.workdir,
              events=opts.events)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@site_argument
@click.argument("node")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def ssh(opts: Options, site_file: Path, node: str, command: tuple[str, ...]) -> None:
    """Open SSH to NODE (or run COMMAND there, after --) through the site's ssh_config and known host keys."""
    if command[:1] == ("--",):  # click keeps the separator of `kprov ssh site NODE -- CMD`
        command = command[1:]
    argv = api.ssh_command(site_file, node, command, workdir=opts.workdir)
    sys.stdout.flush()
    os.execv(argv[0], argv)  # noqa: S606 - argv from api.ssh_command: ssh by its full path, no shell


@cli.command()
@site_argument
@click.argument("node")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.pass_obj
def replace(opts: Options, site_file: Path, node: str, yes: bool) -> None:
    """Replace a dead NODE: remove it without contacting it, make its machine again, join it again."""
    api.replace(site_file, node, yes=yes, ask=lambda q: click.confirm(q, err=True), workdir=opts.workdir,
                events=opts.events)


@cli.command()
@site_argument
@click.option("--to", "to", required=True, help="The Kubernetes version the site file asks for now.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
@click.option("--no-vm-snapshot", is_flag=True, help="Take no VM snapshots before each step (etcd's still).")
@click.pass_obj
def upgrade(opts: Options, site_file: Path, to: str, yes: bool, no_vm_snapshot: bool) -> None:
    """Upgrade Kubernetes minor by minor to --to, with snapshots before each step (asks first)."""
    api.upgrade(site_file, to, yes=yes, ask=lambda q: click.confirm(q, err=True), vm_snapshots=not no_vm_snapshot,
                workdir=opts.workdir, events=opts.events)


@cli.group()
def etcd() -> None:
    """The site's etcd."""


@etcd.command("snapshot")
@site_argument
@click.pass_obj
def etcd_snapshot(opts: Options, site_file: Path) -> None:
    """Save an etcd snapshot (with its SHA-256) into the workdir's etcd-snapshots/."""
    api.etcd_snapshot(site_file, workdir=opts.workdir, events=opts.events)


@cli.group()
def snapshot() -> None:
    """VM snapshots of a running site's nodes (targets with snapshots: lxd)."""


@snapshot.command("list")
@site_argument
@click.pass_obj
def snapshot_list(opts: Options, site_file: Path) -> None:
    """The snapshots kprov made of the site's nodes."""
    api.snapshot(site_file, "list", workdir=opts.workdir, events=opts.events)


@snapshot.command("create")
@site_argument
@click.argument("name")
@click.pass_obj
def snapshot_create(opts: Options, site_file: Path, name: str) -> None:
    """Snapshot every node of a target with snapshots as NAME (changes nothing else)."""
    api.snapshot(site_file, "create", name, workdir=opts.workdir, events=opts.events)


def _asked_snapshot_command(action: str, doc: str) -> None:
    """``kprov snapshot revert|delete``: the same shape, and both ask first."""

    @snapshot.command(action, help=doc)
    @site_argument
    @click.argument("name")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation (required without a terminal).")
    @click.pass_obj
    def command(opts: Options, site_file: Path, name: str, yes: bool) -> None:
        api.snapshot(site_file, action, name, yes=yes, ask=lambda q: click.confirm(q, err=True),
                     workdir=opts.workdir, events=opts.events)


_asked_snapshot_command("revert", "Put every node snapshot NAME covers back to it (they restart; what they wrote "
                                  "since is lost).")
_asked_snapshot_command("delete", "Delete snapshot NAME from every node it covers.")


def exit_for(exc: BaseException, json_sink: JsonSink | None, junit: JUnitSink | None = None) -> int:
    """Print what went wrong on stderr (one line each, no traceback), report it as JSON events and in the JUnit
    report when asked, and return the documented exit code."""
    problems: list[dict[str, Any]] | None = None
    if isinstance(exc, KprovError):
        code = int(exc.exit_code)
        lines = exc.lines()
        if isinstance(exc, SiteError):
            problems = [dataclasses.asdict(p) for p in exc.problems]
        shown = lines if exc.exit_code == ExitCode.INVALID_SITE else [f"kprov: {line}" for line in lines]
    elif isinstance(exc, click.exceptions.Abort | KeyboardInterrupt):
        # click turns a KeyboardInterrupt (and so SIGTERM's) into Abort
        cause = exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else exc
        if not isinstance(cause, KeyboardInterrupt):
            cause = KeyboardInterrupt()
        code, signal_name = api.interruption(cause)
        lines = [f"interrupted by {signal_name}"]
        shown = [f"kprov: {lines[0]}"]
    elif isinstance(exc, click.ClickException):
        code = int(ExitCode.USAGE)
        lines = [exc.format_message()]
        exc.show()
        shown = []
    else:
        if os.environ.get("KPROV_DEBUG"):
            import traceback  # noqa: PLC0415 - only for a bug report

            traceback.print_exception(exc)
        code = int(ExitCode.ERROR)
        lines = [f"internal error: {type(exc).__name__}: {exc} (set KPROV_DEBUG=1 for a traceback)"]
        shown = [f"kprov: {lines[0]}"]
    for line in shown:
        click.echo(line, err=True)
    if json_sink is not None:
        json_sink.fail(code, lines, problems)
    if junit is not None:
        junit.finish(code, lines)
    return code


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error becomes one message per line and its documented exit code; with
    ``--output json`` the event stream ends with a ``result`` event carrying that code."""
    global _JSON  # noqa: PLW0603 - the one sink every Options of this process shares
    api.handle_signals()
    args = sys.argv[1:] if argv is None else argv
    _JSON = JsonSink() if json_requested(args) else None
    try:
        cli.main(args=args, prog_name="kprov", standalone_mode=False)
    except (Exception, KeyboardInterrupt) as exc:
        sys.exit(exit_for(exc, _JSON, _JUNIT))
    if _JSON is not None:
        _JSON.finish(0)
    if _JUNIT is not None:
        _JUNIT.finish(0, [])
    sys.exit(0)
