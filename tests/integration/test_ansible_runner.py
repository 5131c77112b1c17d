"""Playbooks through the real ansible-runner on localhost: typed results, failures per host, and no secret in
anything the run leaves behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from kprov.errors import BootstrapError
from kprov.events import Events
from kprov.inventory import dump
from kprov.tools.ansible import run_playbook, scrub_environment
from kprov.tools.kubespray import Kubespray

SECRET = "hunter2-d41d8cd98f"


@pytest.fixture
def tree(tmp_path: Path) -> Kubespray:
    root = tmp_path / "ks"
    root.mkdir()
    (root / "ansible.cfg").write_text("[defaults]\nhost_key_checking = False\n")
    (root / "ok.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: '{{ greeting }}'}\n")
    (root / "fail.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Break on purpose\n      ansible.builtin.fail: {msg: 'broken on {{ inventory_hostname }}'}\n")
    venv = Path(sys.executable).parent.parent  # the test venv has ansible-core
    return Kubespray(root=root, venv=venv, label="test")


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    inv = tmp_path / "hosts.yaml"
    inv.write_text(dump({"all": {"hosts": {"h1": {"ansible_connection": "local",
                                                  "ansible_python_interpreter": sys.executable}}}}))
    return inv


def _everything_under(path: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in path.rglob("*") if p.is_file())


def test_success_and_no_secret_in_run_artifacts(tree: Kubespray, inventory: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_BMC_PASS", SECRET)  # referenced by the site, innocuous name
    monkeypatch.setenv("VSPHERE_PASSWORD", SECRET)  # not referenced, but named like a secret
    events = Events()
    seen: list[str] = []
    events.listeners.append(lambda e: seen.append(f"{e.event}:{e.host}:{e.message}"))
    result = run_playbook(tree, "ok.yml", inventory_file=inventory, ssh_config=tmp_path / "ssh_config",
                          run_dir=tmp_path / "run", events=events, extravars={"greeting": "hello"},
                          secret_env={"SITE_BMC_PASS"})
    assert result.ok and result.failures == ()
    assert any(s.startswith("progress:h1:") for s in seen)
    left = _everything_under(tmp_path / "run")
    assert "ANSIBLE_HOST_KEY_CHECKING" in left  # the environment is recorded ...
    assert SECRET not in left  # ... without the secrets
    assert oct((tmp_path / "run" / "ansible").stat().st_mode & 0o777) == "0o700"


def test_failure_is_typed_per_host(tree: Kubespray, inventory: Path, tmp_path: Path) -> None:
    result = run_playbook(tree, "fail.yml", inventory_file=inventory, ssh_config=tmp_path / "ssh_config",
                          run_dir=tmp_path / "run", events=Events())
    assert not result.ok
    assert [(f.host, f.task, f.message) for f in result.failures] == [("h1", "Break on purpose", "broken on h1")]
    with pytest.raises(BootstrapError) as info:
        result.raise_for_failure()
    assert "fail.yml failed on h1: h1: failed at 'Break on purpose': broken on h1" in str(info.value)


def test_scrub_environment_keeps_what_ansible_needs() -> None:
    env = {"PATH": "/bin", "HOME": "/root", "SSH_AUTH_SOCK": "/s", "GITLAB_TOKEN": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "TF_HTTP_PASSWORD": "x", "MY_REF": "x", "OS_PASSWORD": "x"}
    assert scrub_environment(env, {"MY_REF"}) == {"PATH": "/bin", "HOME": "/root", "SSH_AUTH_SOCK": "/s"}
    assert os.environ  # the process environment itself is never modified
