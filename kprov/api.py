"""kprov's public surface: what the CLI calls, and what a program or a test should call instead of internals.

Every function takes the site file's path, loads and validates it once (the only way a command gets a site),
reports progress through ``events`` (default: nowhere) and returns a typed result or raises a
:class:`~kprov.errors.KprovError` carrying its exit code. Commands that act on a site leave a run in
``<workdir>/runs/`` whose ``events.jsonl`` holds the same events ``events`` received.

This module imports nothing heavy at import time: a no-op ``up`` answers from :mod:`kprov.engine.fastpath`
without the site model, Terraform, Ansible or testinfra.
"""
# ruff: noqa: PLC0415 - imports are deferred on purpose, see above

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kprov.events import Events, null_events

if TYPE_CHECKING:
    from kprov.commands.base import Ask
    from kprov.doctor import Finding
    from kprov.engine.runner import StageOutcome
    from kprov.engine.stage import Session
    from kprov.site.load import LoadedSite
    from kprov.tools.terraform import PlanResult
    from kprov.verify import VerifyResult

__all__ = ["UpResult", "Validation", "doctor", "down", "example", "examples", "kubeconfig", "load", "plan", "power",
           "render", "schema", "status", "targets", "up", "validate", "verify"]


@dataclass(frozen=True)
class Validation:
    """A valid site: its name, its node count, and what deserves a look before ``up`` (not errors)."""

    site: str
    nodes: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpResult:
    """A site that is up: its workdir and kubeconfig, and what each stage did."""

    workdir: Path
    kubeconfig: Path
    outcomes: tuple[StageOutcome, ...] = ()
    skipped: tuple[str, ...] = ()
    """Stages the no-op fast path reported unchanged (then ``outcomes`` is empty)."""


def load(site_file: Path | str) -> LoadedSite:
    """Load and validate the site file (schema and meaning). Raises :class:`~kprov.errors.SiteError` with every
    problem found. ``validate``, ``render``, ``plan`` and ``up`` also check the Kubernetes version against the
    site's Kubespray when that tree is on disk; commands on a site already up (status, verify, down) do not, so a
    Kubespray bump cannot lock an operator out of them."""
    from kprov.site.load import load_site

    return load_site(Path(site_file), display_name=str(site_file))


def _session(site_file: Path | str, command: str, *, workdir: Path | None, events: Events | None,
             force: bool = False, **options: Any) -> Session:
    from kprov.engine.stage import Session
    from kprov.engine.workdir import Workdir

    loaded = load(site_file)
    wd = Workdir.for_site(Path(site_file), loaded.name, workdir)
    return Session(loaded=loaded, workdir=wd, events=events or null_events(), command=command, force=force,
                   options=options)


def validate(site_file: Path | str, *, events: Events | None = None) -> Validation:
    """Check the site file without touching anything."""
    from kprov.site.load import check_kubernetes_version, warnings

    loaded = load(site_file)
    check_kubernetes_version(loaded)
    found = tuple(warnings(loaded))
    ev = events or null_events()
    for w in found:
        ev.emit("validate", "warning", w)
    ev.emit("validate", "result", f"{site_file}: valid ({len(loaded.nodes)} nodes)", valid=True,
            nodes=len(loaded.nodes), warnings=list(found))
    return Validation(loaded.name, len(loaded.nodes), found)


def render(site_file: Path | str, *, workdir: Path | None = None, events: Events | None = None) -> Path:
    """Write the workdir (Terraform root module, tfvars, inventory); returns its path."""
    from kprov.commands.base import execute
    from kprov.commands.render import RENDER

    session = _session(site_file, "render", workdir=workdir, events=events)
    execute(RENDER, session)
    root = session.workdir.root
    session.events.emit("render", "result", f"rendered into {root}", workdir=str(root))
    return root


def plan(site_file: Path | str, *, out: Path | str | None = None, workdir: Path | None = None,
         events: Events | None = None) -> PlanResult:
    """What Terraform would change and which Kubespray playbook would run; changes nothing but ``out``, where a
    plan file for :func:`apply` is written (:mod:`kprov.planfile`)."""
    from kprov.commands.base import execute
    from kprov.commands.plan import PLAN

    outcomes = execute(PLAN, _session(site_file, "plan", workdir=workdir, events=events,
                                      out=Path(out) if out is not None else None))
    result: PlanResult = outcomes[-1].result
    return result


def apply(plan_file: Path | str, *, workdir: Path | None = None, events: Events | None = None) -> list[StageOutcome]:
    """Apply the Terraform part of a plan file exactly as reviewed (its site file is found relative to it);
    refused when anything it was made from changed since."""
    from kprov import planfile
    from kprov.commands import apply as apply_command
    from kprov.commands.base import execute

    path = Path(plan_file)
    doc = planfile.read(path)
    session = _session(planfile.site_path(path, doc), "apply", workdir=workdir, events=events, plan=doc,
                       plan_file=str(path), planned_changes=doc.changes)
    outcomes: list[StageOutcome] = execute(apply_command.APPLY, session, finish=apply_command.finish)
    return outcomes


def bootstrap(site_file: Path | str, *, workdir: Path | None = None,
              events: Events | None = None) -> list[StageOutcome]:
    """The Kubespray part of `up` on machines Terraform made (after :func:`apply`: only the steps its plan
    listed): SSH wait, preflight, Kubespray, kubeconfig."""
    from kprov.commands import up as up_command
    from kprov.commands.base import execute

    outcomes: list[StageOutcome] = execute(up_command.BOOTSTRAP, _session(site_file, "bootstrap", workdir=workdir,
                                                                            events=events))
    return outcomes


def preflight(site_file: Path | str, *, workdir: Path | None = None,
              events: Events | None = None) -> list[StageOutcome]:
    """The checks on fresh nodes before Kubespray (as `up` runs them), always: the machines are made first if
    needed (as `up` would), then SSH, then every check on every node; raises on a failed check (exit 4)."""
    from kprov.commands import up as up_command
    from kprov.commands.base import execute

    outcomes: list[StageOutcome] = execute(up_command.PREFLIGHT, _session(site_file, "preflight", workdir=workdir,
                                                                            events=events))
    return outcomes


def up(site_file: Path | str, *, force: bool = False, workdir: Path | None = None,
       events: Events | None = None) -> UpResult:
    """Make the site real; a converged site whose inputs did not change answers at once."""
    ev = events or null_events()
    if not force:
        fast = _fast_up(Path(site_file), workdir, ev)
        if fast is not None:
            return fast
    from kprov.commands import up as up_command
    from kprov.commands.base import execute

    session = _session(site_file, "up", workdir=workdir, events=ev, force=force)
    outcomes = execute(up_command.UP, session, finish=up_command.finish)
    return UpResult(session.workdir.root, session.workdir.kubeconfig, tuple(outcomes))


def scale(site_file: Path | str, *, yes: bool = False, ask: Ask | None = None, workdir: Path | None = None,
          events: Events | None = None) -> UpResult:
    """``up`` for an edit that adds or removes nodes of a running site: refused on a site never bootstrapped or
    an edit that neither adds nor removes a node; asks first (or ``yes``), naming who joins and who leaves."""
    from kprov.commands import up as up_command
    from kprov.commands.base import execute

    session = _session(site_file, "scale", workdir=workdir, events=events)
    outcomes = execute(up_command.SCALE, session, yes=yes, ask=ask, finish=up_command.finish)
    return UpResult(session.workdir.root, session.workdir.kubeconfig, tuple(outcomes))


def _fast_up(site_file: Path, workdir: Path | None, events: Events) -> UpResult | None:
    from kprov.engine.fastpath import converged_workdir
    from kprov.engine.runs import Run

    found = converged_workdir(site_file, workdir)
    if found is None:
        return None
    root, stages = found
    run = Run(root / "runs", "up").attach(events)
    try:
        for stage in stages:
            events.emit(stage, "stage_skip", "inputs unchanged since the last successful run")
        kubeconfig = root / "kubeconfig"
        events.emit("up", "result", f"site is up; kubeconfig: {kubeconfig}", kubeconfig=str(kubeconfig))
    except BaseException:
        run.close(events, result="interrupted", exit_code=130)
        raise
    run.close(events, result="ok", exit_code=0)
    return UpResult(root, kubeconfig, skipped=tuple(stages))


def down(site_file: Path | str, *, yes: bool = False, ask: Ask | None = None, skip_reset: bool = False,
         workdir: Path | None = None, events: Events | None = None) -> list[StageOutcome]:
    """Reset the nodes (unless ``skip_reset``), then destroy the machines. Needs ``yes`` or ``ask`` answering
    yes on a terminal."""
    from kprov.commands.base import execute
    from kprov.commands.down import DOWN

    session = _session(site_file, "down", workdir=workdir, events=events, skip_reset=skip_reset)
    result: list[StageOutcome] = execute(DOWN, session, yes=yes, ask=ask)
    return result


def unlock(site_file: Path | str, *, yes: bool = False, ask: Ask | None = None, workdir: Path | None = None,
           events: Events | None = None) -> list[StageOutcome]:
    """Break the Terraform state lock a dead process left, after naming its holder (``yes``, or ``ask`` on a
    terminal)."""
    from kprov.commands.base import execute
    from kprov.commands.unlock import UNLOCK

    result: list[StageOutcome] = execute(UNLOCK, _session(site_file, "unlock", workdir=workdir, events=events),
                                         yes=yes, ask=ask)
    return result


def verify(site_file: Path | str, *, junit: Path | None = None, checks: Sequence[str] = (),
           workdir: Path | None = None, events: Events | None = None) -> VerifyResult:
    """The post-install checks on every node (``checks``: only those named or tagged so); raises
    :class:`~kprov.errors.VerifyFailed` if one fails."""
    from kprov.commands.base import execute
    from kprov.commands.verify import VERIFY

    outcomes = execute(VERIFY, _session(site_file, "verify", workdir=workdir, events=events, junit=junit,
                                        checks=tuple(checks)))
    result: VerifyResult = outcomes[-1].result
    return result


def status(site_file: Path | str, *, workdir: Path | None = None, events: Events | None = None) -> dict[str, Any]:
    """Stages and when they last succeeded, nodes, the last runs with their result, and the lock holder."""
    from kprov.commands.status import status as status_of

    return status_of(_session(site_file, "status", workdir=workdir, events=events))


def kubeconfig(site_file: Path | str, *, workdir: Path | None = None) -> Path:
    """The site's kubeconfig; a :class:`~kprov.errors.UsageError` if the site was never brought up."""
    from kprov.errors import NotBuilt

    session = _session(site_file, "kubeconfig", workdir=workdir, events=None)
    if not session.workdir.kubeconfig.exists():
        raise NotBuilt(f"site {session.loaded.name} has no kubeconfig yet: run `kprov up` first")
    return session.workdir.kubeconfig


def power(site_file: Path | str, node: str, action: str, *, workdir: Path | None = None,
          events: Events | None = None) -> str:
    """Power a node on, off or through a cycle through its BMC (or read its state); returns the power state."""
    from kprov.commands import power as power_command
    from kprov.commands.base import execute

    session = _session(site_file, "power", workdir=workdir, events=events, node=node, action=action)
    state: str = execute(power_command.POWER, session, finish=power_command.finish)
    return state


def replace(site_file: Path | str, node: str, *, yes: bool = False, ask: Ask | None = None,
            workdir: Path | None = None, events: Events | None = None) -> list[StageOutcome]:
    """Replace a dead node: out of the cluster without contacting it, its machine made again, joined again, etcd
    checked. Asks first (or ``yes``)."""
    from kprov.commands import replace as replace_command
    from kprov.commands.base import execute

    session = _session(site_file, "replace", workdir=workdir, events=events, replace=node)
    result: list[StageOutcome] = execute(replace_command.REPLACE, session, yes=yes, ask=ask)
    return result


def upgrade(site_file: Path | str, to: str, *, yes: bool = False, ask: Ask | None = None,
            vm_snapshots: bool = True, workdir: Path | None = None, events: Events | None = None) -> list[str]:
    """Upgrade the running cluster to ``to`` (which the site file must name already), minor by minor, with an etcd
    snapshot (and VM snapshots, unless ``vm_snapshots`` is False) before each step; returns the versions gone
    through. Asks first (or ``yes``)."""
    from kprov.commands import upgrade as upgrade_command
    from kprov.commands.base import execute

    session = _session(site_file, "upgrade", workdir=workdir, events=events, to=to, no_vm_snapshot=not vm_snapshots)
    outcomes = execute(upgrade_command.UPGRADE, session, yes=yes, ask=ask)
    steps: list[str] = next((o.result for o in outcomes if o.stage == "upgrade" and o.result is not None), [])
    return steps


def etcd_snapshot(site_file: Path | str, *, workdir: Path | None = None, events: Events | None = None) -> Any:
    """An etcd snapshot of the running site, saved with its checksum into the workdir."""
    from kprov.commands import etcd as etcd_command
    from kprov.commands.base import execute

    session = _session(site_file, "etcd", workdir=workdir, events=events)
    return execute(etcd_command.SNAPSHOT, session, finish=etcd_command.finish)


def ssh_command(site_file: Path | str, node: str, command: Sequence[str] = (), *,
                workdir: Path | None = None) -> list[str]:
    """The argv that opens SSH to ``node`` (or runs ``command`` there) the way every kprov tool connects: the
    site's ssh_config, its key and its recorded host keys. The CLI execs it."""
    import shutil

    from kprov.errors import UsageError

    session = _session(site_file, "ssh", workdir=workdir, events=None)
    names = [spec.name for spec in session.loaded.nodes]
    if node not in names:  # the site file's nodes: a wrong name is a usage error whether or not it was built
        raise UsageError(f"site {session.loaded.name} has no node {node!r} (its nodes: {', '.join(names)})")
    nodes = session.known_nodes()
    binary = shutil.which("ssh")
    if binary is None:
        raise UsageError("ssh is not on PATH (apt install openssh-client)")
    config = session.ssh_config(nodes)
    return [binary, "-F", str(config), *(["-t"] if not command else []), node, *(["--", *command] if command else [])]


def snapshot(site_file: Path | str, action: str, name: str | None = None, *, yes: bool = False,
             ask: Ask | None = None, workdir: Path | None = None, events: Events | None = None) -> list[Any]:
    """VM snapshots of the site's nodes: ``list`` (the recorded snapshots), ``create`` NAME on every node of a
    target with snapshots, ``revert`` NAME (asks, or ``yes``) or ``delete`` NAME (asks, or ``yes``); returns
    the snapshots (list) or the nodes acted on."""
    from kprov.commands import snapshot as snapshot_command
    from kprov.commands.base import execute

    session = _session(site_file, "snapshot", workdir=workdir, events=events, action=action, name=name)
    if action == "list":
        return snapshot_command.listing(session)
    command = snapshot_command.CREATE if action == "create" else snapshot_command.CHANGE
    nodes: list[Any] = execute(command, session, yes=yes, ask=ask, finish=snapshot_command.finish)
    return nodes


def doctor(site_file: Path | str | None = None, *, fix: bool = False, image: Path | str | None = None,
           events: Events | None = None) -> list[Finding]:
    """What this machine and the site's targets need before anything runs, each problem with its fix; raises
    :class:`~kprov.errors.InfrastructureError` (exit 4) when something needed is missing. ``fix`` first makes
    the repairs kprov can make safely on this machine (``image``: a tarball to import where an image is
    missing), then checks again."""
    from kprov.commands import doctor as doctor_command
    from kprov.doctor import FixInputs

    inputs = FixInputs(image=Path(image) if image is not None else None) if fix else None
    return doctor_command.run(load(site_file) if site_file is not None else None, events or null_events(), inputs)


def schema(*, impact: bool = False, events: bool = False) -> dict[str, Any]:
    """The site file's JSON Schema, every registered target's provider and pool models included; with ``impact``,
    the schema of ``kprov plan``'s impact document instead; with ``events``, that of one event."""
    if events:
        from kprov.eventschema import json_schema

        return json_schema()
    if impact:
        from kprov.impact import ImpactDocument

        return ImpactDocument.model_json_schema(by_alias=True)
    from kprov.site.schema import site_schema

    return site_schema()


def targets() -> list[str]:
    """Names of the installed targets (kprov's own and plug-ins)."""
    from kprov.targets import registry

    return list(registry())


def examples() -> list[str]:
    """What ``kprov init --target`` accepts: every target, and kprov's hybrid examples."""
    from kprov.paths import asset_dir

    return [*targets(), *sorted(p.stem for p in asset_dir("examples").glob("hybrid-*.yaml"))]


def example(name: str) -> str:
    """A commented starting point for a site of target (or hybrid example) ``name``."""
    from kprov.paths import asset_dir
    from kprov.targets import registry

    if name in registry():
        return registry()[name].example()
    return (asset_dir("examples") / f"{name}.yaml").read_text()


def handle_signals() -> None:
    """From now on SIGTERM interrupts kprov as Ctrl-C does (the ``kprov`` script calls this; a program embedding
    kprov calls it once, in its main thread, to get the same)."""
    from kprov.engine import signals

    signals.install()


def interruption(exc: BaseException) -> tuple[int, str]:
    """The exit code and the signal (``SIGINT``, ``SIGTERM``) of an interruption: a KeyboardInterrupt, or a tool's
    :class:`~kprov.errors.Interrupted`."""
    from kprov.engine import signals

    return int(signals.exit_code(exc)), signals.name(exc)
