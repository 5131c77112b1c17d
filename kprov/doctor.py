"""``kprov doctor``: what a site needs before anything runs, each missing piece with the one thing that fixes it.

The checks here are the ones every site shares (Python, Terraform, ssh, git, the Kubespray source, the SSH keys,
every secret the site file references); each target adds its own through ``Target.doctor`` (an endpoint that
must answer, a daemon that must be initialised). Checking changes nothing; a finding may carry a ``repair``
that ``kprov doctor --fix`` runs: only fixes on this machine that kprov can make safely (never on a remote host).
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from kprov.errors import KprovError
from kprov.site.secrets import SecretRef, secret_refs

if TYPE_CHECKING:
    from kprov.site.load import LoadedSite


@dataclass(frozen=True)
class FixInputs:
    """What ``kprov doctor --fix`` may use beyond the site file."""

    image: Path | None = None
    """An image tarball to import where a target's image is missing (LXD: a rootfs tarball such as
    ``mmdebstrap`` writes, or a unified image from ``lxc image export``)."""


Repair = Callable[[FixInputs], str]
"""Makes a finding hold; returns what it did, raises :class:`~kprov.errors.KprovError` when it cannot."""


@dataclass(frozen=True)
class Finding:
    """One check: what was checked, whether it holds, and if not, how bad and what fixes it (``repair``: what
    ``--fix`` runs, when kprov can make the fix itself)."""

    check: str
    ok: bool
    message: str
    fix: str = ""
    severity: Literal["error", "warning"] = "error"
    repair: Repair | None = field(default=None, compare=False, repr=False)

    @property
    def blocking(self) -> bool:
        return not self.ok and self.severity == "error"

    def as_dict(self) -> dict[str, object]:
        return {"check": self.check, "ok": self.ok, "message": self.message, "fix": self.fix,
                "severity": self.severity, "blocking": self.blocking, "fixable": self.repair is not None}


def tools(*, needs_git: bool = True) -> list[Finding]:
    """Python, Terraform (or OpenTofu), ssh and git on this machine."""
    from kprov.tools.terraform import Terraform  # noqa: PLC0415

    out = [Finding("python", sys.version_info >= (3, 11), f"Python {sys.version.split()[0]}",
                   "use Python 3.11 or newer for kprov's virtualenv")]
    try:
        version = Terraform(Path.cwd()).check_version()
        out.append(Finding("terraform", True, f"{'OpenTofu' if version.opentofu else 'Terraform'} {version.text}"))
    except KprovError as exc:
        out.append(Finding("terraform", False, str(exc), "install Terraform >= 1.5 or OpenTofu >= 1.6 on PATH"))
    for tool, package, needed in (("ssh", "openssh-client", True), ("git", "git", needs_git)):
        path = shutil.which(tool)
        out.append(Finding(tool, path is not None or not needed, path or f"{tool} is not on PATH",
                           f"apt install {package}"))
    return out


def site(loaded: LoadedSite) -> list[Finding]:
    """The Kubespray source, the SSH keys and every secret the site file references."""
    from kprov.site.load import keygen_hint  # noqa: PLC0415
    from kprov.tools.kubespray import local_tree  # noqa: PLC0415

    out: list[Finding] = []
    ref = loaded.site.kubernetes.kubespray
    tree = local_tree(ref, loaded.base_dir)
    if ref.path is not None:
        ok = tree is not None and (tree / "cluster.yml").is_file()
        out.append(Finding("kubespray", ok, f"Kubespray tree {tree}" if ok else f"no Kubespray tree at {tree}",
                           "point kubernetes.kubespray.path at a Kubespray checkout"))
    elif tree is not None:
        out.append(Finding("kubespray", True, f"Kubespray {ref.version} cached at {tree}"))
    else:
        out.append(Finding("kubespray", False, f"Kubespray {ref.version} is not fetched yet: the first up clones it "
                           f"from {ref.repo}", f"git ls-remote {ref.repo} {ref.version}  # must answer",
                           severity="warning"))
    keys = [("ssh private key", loaded.private_key), ("ssh public key", loaded.public_key)]
    for check, key in keys:
        if key is not None:
            out.append(Finding(check, key.is_file(), str(key), keygen_hint(key)))
    out += [secret(ref_, loaded.base_dir) for ref_ in secret_refs(loaded.site)]
    return out


def secret(ref: SecretRef, base: Path) -> Finding:
    """A referenced secret is there (its value is read and forgotten, never shown)."""
    check = f"secret {ref.describe()}"
    try:
        ref.resolve(base)
    except KprovError as exc:
        fix = f"export {ref.env}=..." if ref.env is not None else f"create {ref.file} (mode 0600)"
        return Finding(check, False, str(exc), fix)
    return Finding(check, True, "set" if ref.env is not None else "readable")


def reachable(check: str, host: str, port: int, timeout: float = 3.0) -> Finding:
    """A TCP endpoint answers (a name that does not resolve or a port that refuses is a finding)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Finding(check, True, f"{host}:{port} answers")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return Finding(check, False, f"{host}:{port} does not answer ({reason})",
                       f"check the address, DNS and firewall between this machine and {host}:{port}")


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]
