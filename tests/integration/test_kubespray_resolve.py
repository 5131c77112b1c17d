"""Kubespray by version: cloned with the real git from a local repository standing in for upstream, with a real
virtualenv built from the tag's requirements.txt."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kprov.errors import BootstrapError
from kprov.events import Events
from kprov.site.model import KubesprayRef
from kprov.tools.kubespray import resolve, supported_versions
from tests.conftest import STANDIN


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("upstream") / "kubespray"
    shutil.copytree(STANDIN, repo)
    _git("init", "-q", "-b", "master", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "v2.31.0", cwd=repo)
    _git("tag", "v2.31.0", cwd=repo)
    return repo


def test_version_is_cloned_once_with_its_own_venv(upstream: Path, kprov_cache: Path) -> None:
    seen: list[str] = []
    events = Events()
    events.listeners.append(lambda e: seen.append(e.message))
    ref = KubesprayRef(version="v2.31.0", repo=f"file://{upstream}")
    ks = resolve(ref, Path("/"), events)
    assert ks.root == kprov_cache / "kubespray" / "v2.31.0" / "src"
    assert (ks.root / "cluster.yml").is_file()
    playbook = ks.bin / "ansible-playbook"
    assert playbook.is_file()
    version = subprocess.run([str(playbook), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("ansible-playbook [core 2.")
    assert "cloning Kubespray v2.31.0" in seen
    assert "1.35.4" in (supported_versions(ks.root) or set())
    # second resolve: nothing fetched or built again
    seen.clear()
    again = resolve(ref, Path("/"), events)
    assert again == ks and seen == []


def test_an_unknown_tag_is_a_bootstrap_error_naming_it(upstream: Path, kprov_cache: Path) -> None:
    with pytest.raises(BootstrapError) as info:
        resolve(KubesprayRef(version="v9.9.9", repo=f"file://{upstream}"), Path("/"))
    assert "cannot fetch Kubespray v9.9.9" in str(info.value)
    assert not (kprov_cache / "kubespray" / "v9.9.9" / "src").exists()


def test_a_path_that_is_not_kubespray_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BootstrapError) as info:
        resolve(KubesprayRef(path=str(tmp_path)), Path("/"))
    assert "is not a Kubespray tree (no cluster.yml)" in str(info.value)
