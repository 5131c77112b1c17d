"""The CLI as a user meets it: real processes, exit codes, streams, and what is (not) written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kprov.exitcodes import ExitCode
from tests.conftest import lock_held_by_another_process, site_data

SITES = Path(__file__).parent.parent / "sites"


def kprov(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, check=False, timeout=120)


def test_invalid_site_exits_3_with_positions_no_traceback_nothing_written(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text((SITES / "invalid" / "unknown-keys.yaml").read_text())
    for command in ("validate", "render", "plan", "up"):
        proc = kprov(command, str(site))
        assert proc.returncode == ExitCode.INVALID_SITE, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert lines[0].startswith(f"{site}:11:1: ssh.private_key: required key is missing")
        assert len(lines) == 4 and "Traceback" not in proc.stderr
        assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.yaml"]


def test_unsupported_kubernetes_version_is_refused_with_its_position(write_site) -> None:  # type: ignore[no-untyped-def]
    data = site_data()
    data["kubernetes"]["version"] = "1.29.0"
    site = write_site(data)
    proc = kprov("validate", str(site))
    assert proc.returncode == ExitCode.INVALID_SITE
    assert proc.stderr == (f"{site}:6:12: kubernetes.version: Kubernetes 1.29.0 is not supported by this "
                           "Kubespray (supported: 1.33.0 to 1.35.4)\n")


def test_schema_is_json_schema_with_pool_options() -> None:
    proc = kprov("schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert schema["additionalProperties"] is False
    pools = schema["properties"]["pools"]
    assert list(pools["patternProperties"].values()) == [{"anyOf": [
        {"$ref": f"#/$defs/{t}Pool"}
        for t in ("Baremetal", "Libvirt", "Lxd", "Openstack", "Proxmox", "Static", "Vsphere")]}]
    assert pools["additionalProperties"] is False
    assert "machines" in schema["$defs"]["StaticPool"]["properties"]
    assert {"count", "ip_start", "anti_affinity"} <= set(schema["$defs"]["VspherePool"]["properties"])
    (provider,) = schema["properties"]["providers"]["patternProperties"].values()
    assert provider["discriminator"]["propertyName"] == "type"


def test_render_writes_a_private_workdir_and_json_events(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    proc = kprov("--output", "json", "render", str(site))
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events and all(set(e) == {"ts", "stage", "event", "host", "message", "data"} for e in events)
    assert events[-1]["event"] == "result"
    work = site.parent / ".kprov" / "lab"
    assert work.stat().st_mode & 0o777 == 0o700
    tfvars = json.loads((work / "terraform" / "kprov.auto.tfvars.json").read_text())
    assert set(tfvars["pools"]["lab"]) == {"cp", "workers"}
    assert (work / "inventory" / "hosts.yaml").is_file()


def test_down_refuses_without_a_terminal_or_yes(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    proc = kprov("down", str(site))
    assert proc.returncode == ExitCode.USAGE
    assert "pass --yes" in proc.stderr
    assert not (site.parent / ".kprov").exists()


def test_kubeconfig_and_verify_before_up_say_the_site_was_never_built(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    for command in ("kubeconfig", "verify"):
        proc = kprov(command, str(site))
        assert proc.returncode == ExitCode.NOT_BUILT, proc.stderr
        assert "run `kprov up` first" in proc.stderr


def test_a_second_kprov_on_a_locked_site_exits_7_naming_the_holder(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    lock = site.parent / ".kprov" / "lab" / "lock"
    lock.parent.mkdir(parents=True)
    with lock_held_by_another_process(lock) as pid:
        proc = kprov("up", str(site))
        assert proc.returncode == ExitCode.LOCKED
        assert f"locked by pid {pid}" in proc.stderr and "(up, since" in proc.stderr


def test_plan_shows_terraform_changes_and_the_playbook(write_site) -> None:  # type: ignore[no-untyped-def]
    site = write_site()
    proc = kprov("-o", "json", "plan", str(site))
    assert proc.returncode == 0, proc.stderr
    infos = [json.loads(x) for x in proc.stdout.splitlines()]
    tf = next(e for e in infos if e["event"] == "info" and e["message"].startswith("terraform:"))
    assert tf["data"]["add"] == 3 and tf["data"]["changes"] is True
    ks = next(e for e in infos if e["event"] == "info" and e["message"].startswith("kubespray "))
    assert ks["message"] == "kubespray after Terraform: cluster.yml" and ks["data"]["playbook"] == "cluster.yml"
    doc = next(e for e in infos if e["event"] == "impact")["data"]["impact"]
    assert [(n["node"], n["action"], n["why"]) for n in doc["nodes"]] == [
        ("cp1", "join", "not bootstrapped yet"), ("w1", "join", "not bootstrapped yet"),
        ("w2", "join", "not bootstrapped yet")]
    assert doc["control_plane"] == {"before": 0, "after": 1} and doc["forced_by"] == {}


def test_init_prints_a_valid_commented_example(tmp_path: Path) -> None:
    for target in ("static", "vsphere", "libvirt", "proxmox", "openstack", "hybrid-vsphere-static",
                   "hybrid-vsphere-baremetal"):
        proc = kprov("init", "--target", target)
        assert proc.returncode == 0 and proc.stdout.startswith("# ")
        site = tmp_path / f"{target}.yaml"
        site.write_text(proc.stdout)
        assert kprov("validate", str(site)).returncode == 0


def test_usage_error_exit_code() -> None:
    proc = kprov("up")
    assert proc.returncode == ExitCode.USAGE
    assert "Missing argument" in proc.stderr
