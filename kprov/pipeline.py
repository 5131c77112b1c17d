"""The stages of ``kprov up`` and the commands built from them.

Stages run in order (infra → inventory → ssh → preflight → bootstrap → kubeconfig → verify). Each records a
fingerprint of its inputs when it succeeds; a stage whose inputs did not change is skipped (``force`` re-runs
it). A failed stage records nothing, so the next ``up`` resumes there.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kprov import ansible, inventory, kubespray, render, ssh
from kprov import nodes as nodes_mod
from kprov import verify as verify_mod
from kprov.errors import BootstrapError, InfrastructureError, SiteError, UsageError, VerifyFailed
from kprov.events import Events
from kprov.fastpath import converged_key
from kprov.kubespray import Kubespray
from kprov.lock import SiteLock
from kprov.nodes import Node
from kprov.paths import asset_dir
from kprov.providers import target_for
from kprov.secrets import referenced_env
from kprov.sitefile import LoadedSite, locate
from kprov.state import STAGES, StageState, file_digest, fingerprint
from kprov.terraform import PlanResult, Terraform
from kprov.workdir import Workdir, private_dir, write_atomic


@dataclass
class Context:
    loaded: LoadedSite
    workdir: Workdir
    events: Events
    force: bool = False
    command: str = "up"
    _run_dir: Path | None = field(default=None, init=False)
    _kubespray: Kubespray | None = field(default=None, init=False)

    @property
    def site(self) -> Any:
        return self.loaded.site

    @property
    def run_dir(self) -> Path:
        if self._run_dir is None:
            self._run_dir = self.workdir.new_run(self.command)
        return self._run_dir

    def terraform(self) -> Terraform:
        env = {**self.site.state.environment(self.loaded.base_dir), **render.credential_environment(self.loaded)}
        if pxe_servers(self.loaded):
            # The bare-metal module's provisioners run `python -m kprov.machine` with this interpreter, reach
            # the PXE server through the site's ssh_config, and forget host keys of reinstalled machines.
            env.update({"KPROV_PYTHON": sys.executable, "KPROV_SSH_CONFIG": str(self.ssh_config([])),
                        "KPROV_KNOWN_HOSTS": str(self.workdir.known_hosts),
                        "KPROV_SITE_DIR": str(self.loaded.base_dir)})
        return Terraform(self.workdir.terraform, env=env, events=self.events, log_dir=self.run_dir)

    def private_key(self) -> Path:
        key = self.loaded.path(self.site.ssh.private_key)
        if not key.is_file():
            raise UsageError(f"ssh.private_key {key} does not exist")
        return key

    def kubespray(self) -> Kubespray:
        if self._kubespray is None:
            self._kubespray = kubespray.resolve(self.site.kubernetes.kubespray, self.loaded.base_dir, self.events)
            check_kubernetes_version(self.loaded, self._kubespray.root)
        return self._kubespray

    def spec_order(self) -> list[str]:
        return [n.name for n in self.loaded.nodes]

    def ssh_config(self, nodes: Sequence[Node]) -> Path:
        return ssh.write_config(self.workdir, nodes, self.private_key(), self.site.ssh.port)


def check_kubernetes_version(loaded: LoadedSite, tree: Path | None) -> None:
    """Refuse a Kubernetes version the site's Kubespray cannot install, before any machine is touched."""
    if tree is None:
        return
    supported = kubespray.supported_versions(tree)
    version = loaded.site.kubernetes.version
    if supported and version not in supported:
        ordered = sorted(supported, key=lambda v: tuple(int(x) for x in v.split(".")))
        msg = f"Kubernetes {version} is not supported by this Kubespray (supported: {ordered[0]} to {ordered[-1]})"
        raise SiteError(locate(str(loaded.source), loaded.text, [(("kubernetes", "version"), msg)]))


def validate(loaded: LoadedSite) -> None:
    """Schema and meaning were checked at load; this adds what needs the Kubespray tree, if it is on disk."""
    ref = loaded.site.kubernetes.kubespray
    check_kubernetes_version(loaded, kubespray.local_tree(ref, loaded.base_dir))


class Runner:
    """Runs stages with fingerprints and reports start / skip / done / failed for each."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.state = StageState(ctx.workdir.state_file)

    def stage(self, name: str, fp: str, work: Callable[[], Any], describe: str) -> bool:
        """Run ``work`` unless ``fp`` matches the last success. Returns whether it ran."""
        ev = self.ctx.events
        if not self.ctx.force and self.state.done(name, fp):
            ev.emit(name, "stage_skip", "inputs unchanged since the last successful run")
            return False
        ev.emit(name, "stage_start", describe)
        try:
            work()
        except BaseException as exc:
            ev.emit(name, "stage_failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        self.state.record(name, fp)
        ev.emit(name, "stage_done", "")
        return True


def _terraform_inputs(workdir: Workdir) -> str:
    tf = workdir.terraform
    return file_digest(tf / "main.tf", tf / render.TFVARS, tf / "modules")


def _infra(ctx: Context, runner: Runner) -> list[Node]:
    render.render_terraform(ctx.loaded, ctx.workdir)
    tf = ctx.terraform()
    result: dict[str, list[Node]] = {}

    def work() -> None:
        tf.check_version()
        tf.init()
        plan = tf.plan(out=ctx.run_dir / "tfplan")
        if plan.changes:
            applied = tf.apply(ctx.run_dir / "tfplan")
            ctx.events.emit("infra", "info", f"applied: {applied.summary}")
        result["nodes"] = nodes_mod.from_output(tf.output().get("nodes"), ctx.spec_order())
        nodes_mod.save(ctx.workdir.nodes_file, result["nodes"])

    ran = runner.stage("infra", _terraform_inputs(ctx.workdir), work, "terraform init, plan, apply")
    if ran:
        return result["nodes"]
    saved = nodes_mod.load(ctx.workdir.nodes_file)
    if not saved:
        runner.state.forget("infra")
        raise InfrastructureError("no node list in the workdir: re-run `kprov up --force`")
    return nodes_mod.sort_nodes(saved, ctx.spec_order())


def _node_fp(nodes: Sequence[Node]) -> list[dict[str, Any]]:
    return [n.model_dump(mode="json") for n in nodes]


def pxe_servers(loaded: LoadedSite) -> dict[str, Any]:
    """Bare-metal provider blocks by name (each names its PXE server)."""
    return {name: p for name, p in loaded.site.providers.items() if p.type == "baremetal"}


def pxe_inventory(loaded: LoadedSite) -> dict[str, Any]:
    """Inventory for ``playbooks/pxe-server.yml``: one host per PXE server kprov manages."""
    site = loaded.site
    net = site.network.cidr
    hosts: dict[str, Any] = {}
    for name, p in pxe_servers(loaded).items():
        pxe = p.pxe
        if not pxe.manage:
            continue
        user = pxe.ssh_user or site.ssh.user
        hv: dict[str, Any] = {
            "ansible_host": pxe.host, "ansible_user": user, "ansible_port": site.ssh.port,
            "kprov_pxe_interface": pxe.interface, "kprov_pxe_http_port": pxe.http_port,
            "kprov_pxe_dhcp_mode": pxe.dhcp.mode, "kprov_pxe_publishers": [] if user == "root" else [user],
        }
        if pxe.dhcp.mode == "full":
            assert pxe.dhcp.range is not None
            hv.update({"kprov_pxe_dhcp_range": [str(a) for a in pxe.dhcp.range],
                       "kprov_pxe_dhcp_netmask": str(net.netmask), "kprov_pxe_dhcp_lease": pxe.dhcp.lease})
            if site.network.gateway:
                hv["kprov_pxe_dhcp_router"] = str(site.network.gateway)
            if site.network.dns:
                hv["kprov_pxe_dhcp_dns"] = [str(d) for d in site.network.dns]
        else:
            hv["kprov_pxe_proxy_subnet"] = str(net.network_address)
        hosts[f"pxe-{name.replace('_', '-')}"] = hv
    return {"all": {"children": {"pxe_server": {"hosts": hosts}}}} if hosts else {}


def _pxe(ctx: Context, runner: Runner) -> None:
    """Deploy the PXE servers of bare-metal providers (``playbooks/pxe-server.yml``) before any machine boots."""
    data = pxe_inventory(ctx.loaded)
    if not data:
        return
    project = asset_dir("playbooks")
    ks = ctx.kubespray()
    inv = ctx.workdir.inventory / "pxe-servers.yaml"
    fp = fingerprint(data, file_digest(project), ks.commit())

    def work() -> None:
        private_dir(inv.parent)
        write_atomic(inv, inventory.dump(inventory.unsafe(data)))
        result = ansible.run_playbook(ks, "pxe-server.yml", inventory_file=inv, ssh_config=ctx.ssh_config([]),
                                      run_dir=ctx.run_dir, events=ctx.events, stage="pxe",
                                      fact_cache=ctx.workdir.fact_cache, secret_env=referenced_env(ctx.site),
                                      project=project)
        result.raise_for_failure()

    hosts = sorted(data["all"]["children"]["pxe_server"]["hosts"])
    runner.stage("pxe", fp, work, f"PXE server(s) {', '.join(hosts)} (playbooks/pxe-server.yml)")


def up(ctx: Context) -> None:
    with SiteLock(ctx.workdir.ensure().lock_file, "up"):
        runner = Runner(ctx)
        _pxe(ctx, runner)
        nodes = _infra(ctx, runner)
        _up_from_inventory(ctx, runner, nodes)


def _up_from_inventory(ctx: Context, runner: Runner, nodes: list[Node]) -> None:
    site = ctx.site
    inv_fp = fingerprint(_node_fp(nodes), site.kubernetes.model_dump(mode="json"), site.ssh.port,
                         site.metadata.model_dump(mode="json"), site.network.model_dump(mode="json"))
    runner.stage("inventory", inv_fp, lambda: inventory.write(ctx.workdir.inventory, site, nodes),
                 "Kubespray inventory from Terraform's outputs")
    ks = ctx.kubespray()
    config = ctx.ssh_config(nodes)
    ssh_fp = fingerprint(_node_fp(nodes), site.ssh.model_dump(mode="json"))
    runner.stage("ssh", ssh_fp, lambda: ssh.wait_for(config, nodes, ssh_timeout(ctx.loaded), ctx.events,
                                                     ctx.workdir.known_hosts),
                 f"waiting for SSH on {len(nodes)} nodes")
    runner.stage("preflight", fingerprint(ssh_fp, "preflight-1"),
                 lambda: _checks(ctx, nodes, config, suite="preflight", stage="preflight",
                                 error=InfrastructureError),
                 "checking nodes before Kubespray")
    boot_fp = fingerprint(file_digest(ctx.workdir.inventory / "hosts.yaml", ctx.workdir.inventory / "group_vars"),
                          ks.commit(), "cluster.yml")

    def bootstrap() -> None:
        result = ansible.run_playbook(ks, "cluster.yml", inventory_file=ctx.workdir.inventory / "hosts.yaml",
                                      ssh_config=config, run_dir=ctx.run_dir, events=ctx.events,
                                      fact_cache=ctx.workdir.fact_cache,
                                      secret_env=referenced_env(ctx.site))
        result.raise_for_failure()
        fetch_kubeconfig(ctx.workdir)

    runner.stage("bootstrap", boot_fp, bootstrap, f"Kubespray cluster.yml ({ks.label})")
    runner.stage("verify", fingerprint(boot_fp, _node_fp(nodes), "post-install-1"),
                 lambda: _checks(ctx, nodes, config, suite="post-install", stage="verify", error=VerifyFailed),
                 "testinfra checks on every node")
    runner.state.record_converged(converged_key(ctx.loaded.source, ctx.workdir.root, ks.root), ctx.loaded.source,
                                  ks.root)


def ssh_timeout(loaded: LoadedSite) -> float:
    """How long the SSH stage waits: ``ssh.connect_timeout``, or longer when a target installs an OS first."""
    used = {str(pool.provider) for pool in loaded.pools.values()}  # type: ignore[attr-defined]
    boot = [target_for(p.type).boot_timeout(p) for n, p in loaded.site.providers.items() if n in used]
    return float(max([loaded.site.ssh.connect_timeout, *boot]))


def fetch_kubeconfig(workdir: Workdir) -> Path:
    src = workdir.inventory / "artifacts" / "admin.conf"
    if not src.is_file():
        raise BootstrapError(f"Kubespray wrote no {src} (kubeconfig_localhost must stay true)")
    src.chmod(0o600)
    write_atomic(workdir.kubeconfig, src.read_bytes(), mode=0o600)
    return workdir.kubeconfig


def _run_suite(ctx: Context, nodes: Sequence[Node], config: Path, *, suite: str, stage: str,
               junit: Path | None) -> verify_mod.VerifyResult:
    """Run a check suite, show its host-by-check table, and write JUnit if asked."""
    result = verify_mod.verify(nodes, config, ctx.events, suite=suite, stage=stage,
                               context={"kubernetes_version": ctx.site.kubernetes.version})
    ctx.events.emit(stage, "table", "", **result.table())
    if junit is not None:
        verify_mod.write_junit(result, junit)
    return result


def _checks(ctx: Context, nodes: Sequence[Node], config: Path, *, suite: str, stage: str,
            error: type[InfrastructureError] | type[VerifyFailed]) -> verify_mod.VerifyResult:
    """A check suite as a stage of `up`: JUnit in the run dir, ``error`` if any check fails."""
    result = _run_suite(ctx, nodes, config, suite=suite, stage=stage, junit=ctx.run_dir / f"junit-{suite}.xml")
    if not result.ok:
        raise error(f"{suite}: {len(result.failed)} check(s) failed: {result.failure_detail}")
    return result


def verify(ctx: Context, junit: Path | None = None) -> verify_mod.VerifyResult:
    nodes = _known_nodes(ctx)
    config = ctx.ssh_config(nodes)
    ctx.events.emit("verify", "stage_start", f"testinfra checks on {len(nodes)} nodes")
    result = _run_suite(ctx, nodes, config, suite="post-install", stage="verify", junit=junit)
    if not result.ok:
        detail = result.failure_detail
        ctx.events.emit("verify", "stage_failed", detail)
        raise VerifyFailed(f"verification failed: {detail}")
    ctx.events.emit("verify", "stage_done", f"{len(result.results)} checks passed")
    return result


def _known_nodes(ctx: Context) -> list[Node]:
    saved = nodes_mod.load(ctx.workdir.nodes_file)
    if not saved:
        raise UsageError(f"site {ctx.loaded.name} has no nodes yet: run `kprov up` first")
    return nodes_mod.sort_nodes(saved, ctx.spec_order())


def plan(ctx: Context) -> PlanResult:
    ctx.workdir.ensure()
    with SiteLock(ctx.workdir.lock_file, "plan"):
        render.render_terraform(ctx.loaded, ctx.workdir)
        tf = ctx.terraform()
        ctx.events.emit("plan", "stage_start", "terraform plan")
        tf.check_version()
        tf.init()
        result = tf.plan()
        rows = [[c.address, c.action] for c in result.planned]
        if rows:
            ctx.events.emit("plan", "table", "", title="terraform", columns=["resource", "action"], rows=rows)
        ctx.events.emit("plan", "info", f"terraform: {result.summary}" if result.changes else "terraform: no changes",
                        changes=result.changes, add=result.summary.add, change=result.summary.change,
                        remove=result.summary.remove)
        playbook, why = _next_playbook(ctx, result)
        ctx.events.emit("plan", "info", f"kubespray: {playbook or 'nothing to run'} ({why})", playbook=playbook,
                        reason=why)
        ctx.events.emit("plan", "stage_done", "")
        return result


def _next_playbook(ctx: Context, tf_plan: PlanResult) -> tuple[str | None, str]:
    state = StageState(ctx.workdir.state_file)
    if "bootstrap" not in state.data["stages"]:
        return "cluster.yml", "the site has not been bootstrapped"
    if tf_plan.changes:
        return "cluster.yml", "nodes change"
    return None, "the cluster matches the site file as far as kprov recorded"


def down(ctx: Context, *, skip_reset: bool = False) -> None:
    with SiteLock(ctx.workdir.ensure().lock_file, "down"):
        state = StageState(ctx.workdir.state_file)
        nodes = nodes_mod.load(ctx.workdir.nodes_file)
        hosts = ctx.workdir.inventory / "hosts.yaml"
        if nodes and hosts.is_file() and not skip_reset and "bootstrap" in state.data["stages"]:
            ks = ctx.kubespray()
            config = ctx.ssh_config(nodes)
            ctx.events.emit("reset", "stage_start", "Kubespray reset.yml")
            result = ansible.run_playbook(ks, "reset.yml", inventory_file=hosts, ssh_config=config,
                                          run_dir=ctx.run_dir, events=ctx.events,
                                          extravars={"reset_confirmation": "yes"}, fact_cache=ctx.workdir.fact_cache,
                                          stage="reset", secret_env=referenced_env(ctx.site))
            try:
                result.raise_for_failure()
            except BootstrapError as exc:
                ctx.events.emit("reset", "stage_failed", str(exc))
                raise
            state.forget("bootstrap", "verify")
            ctx.events.emit("reset", "stage_done", "")
        elif not skip_reset:
            ctx.events.emit("reset", "stage_skip", "nothing was bootstrapped")
        render.render_terraform(ctx.loaded, ctx.workdir)
        tf = ctx.terraform()
        ctx.events.emit("destroy", "stage_start", "terraform destroy")
        tf.check_version()
        tf.init()
        destroyed = tf.destroy()
        state.forget()
        for f in (ctx.workdir.kubeconfig, ctx.workdir.nodes_file):
            f.unlink(missing_ok=True)
        shutil.rmtree(ctx.workdir.inventory / "artifacts", ignore_errors=True)
        ctx.events.emit("destroy", "stage_done", str(destroyed.summary))


def status(ctx: Context) -> dict[str, Any]:
    state = StageState(ctx.workdir.state_file)
    nodes = nodes_mod.load(ctx.workdir.nodes_file)
    lock = SiteLock(ctx.workdir.lock_file, "status").holder() if ctx.workdir.lock_file.exists() else None
    stages = {s: state.data["stages"].get(s, {}).get("finished") for s in STAGES}
    info = {
        "site": ctx.loaded.name, "workdir": str(ctx.workdir.root), "stages": stages,
        "nodes": [n.model_dump(mode="json") for n in nodes],
        "kubeconfig": str(ctx.workdir.kubeconfig) if ctx.workdir.kubeconfig.exists() else None,
        "lock": lock or None,
    }
    ctx.events.emit("status", "table", "", title=f"site {ctx.loaded.name}", columns=["stage", "last success"],
                    rows=[[s, t or "never"] for s, t in stages.items()])
    if nodes:
        ctx.events.emit("status", "table", "", title="nodes", columns=["node", "pool", "roles", "address"],
                        rows=[[n.name, n.pool, ",".join(n.roles), n.access_ip] for n in nodes])
    ctx.events.emit("status", "result", "", status=info)
    return info


def confirm_destroy(name: str, yes: bool, ask: Callable[[str], bool]) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError("refusing to destroy without confirmation: no terminal to ask on; pass --yes")
    if not ask(f"Reset and destroy every node of site {name}?"):
        raise UsageError("not confirmed; nothing was changed")
