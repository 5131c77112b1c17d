"""The no-op `kprov up`: when nothing that feeds any stage changed since the last complete `up`, say so without
loading the site model, Terraform, Ansible or testinfra.

A complete `up` records one key over all its inputs: the site file's bytes, kprov's version and its templates and
modules, the Kubespray tree's identity and the workdir. Any stage that runs or is forgotten (a failed `up`, a
`down`) drops the record, so the fast path can only ever repeat what a full run would have concluded: every stage
skipped. This keeps the no-op cost near Python's start-up instead of seconds of imports and checks.

Every input is still compared on every no-op: the site file is read, the Kubespray tree's identity is taken (its
HEAD read from ``.git``, its local edits from one ``git diff``), and the digests of kprov's asset folders come from
a cache in the workdir only while the stat data of every file under them is what it was when they were computed;
any write changes that, and they are read again (:class:`~kprov.engine.fingerprint.StatCache`). ``python -m kprov``
reaches :func:`converged_workdir` without importing click (:mod:`kprov.__main__`).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kprov import __version__
from kprov.engine.fingerprint import StatCache, file_digest, fingerprint, tree_identity
from kprov.engine.state import StageState
from kprov.paths import asset_dir

CACHE = "input-digests.json"
"""In the workdir: the digests of kprov's asset folders, each with the stat signature of the files it was computed
from (:class:`~kprov.engine.fingerprint.StatCache`)."""


def converged_key(site_file: Path, workdir: Path, kubespray_root: Path) -> str:
    """The key over every input of ``up``. The site file is read and the Kubespray tree's identity asked of git
    each time; kprov's asset folders are digested again only when a file under them changed, else their digests
    come from the workdir's cache."""
    site_file = site_file.resolve()
    cache = StatCache(workdir / CACHE)
    key = fingerprint(
        __version__, str(site_file), file_digest(site_file), cache.file_digest(asset_dir("templates")),
        cache.file_digest(asset_dir("terraform")), cache.file_digest(asset_dir("playbooks")),
        str(workdir.absolute()), tree_identity(kubespray_root),
        os.environ.get("KPROV_TERRAFORM", "terraform"),
    )
    cache.save()
    return key


def _candidates(site_file: Path, workdir: Path | None) -> list[Path]:
    if workdir is not None:
        return [workdir]
    return sorted(p.parent for p in (site_file.absolute().parent / ".kprov").glob("*/state.json"))


def _lock_free(workdir: Path) -> bool:
    try:
        fd = os.open(workdir / "lock", os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # someone is working on the site: take the full path, which reports the holder
    finally:
        os.close(fd)
    return True


def converged_workdir(site_file: Path, workdir: Path | None) -> tuple[Path, list[str]] | None:
    """The site's workdir and the stages its last `up` went through, if the site is converged and its inputs are
    unchanged; else None."""
    site = site_file.resolve()
    if not site.is_file():
        return None
    for candidate in _candidates(site_file, workdir):
        state = StageState(candidate / "state.json")
        record = state.converged()
        if not record or record.get("site") != str(site):
            continue
        stages = [str(s) for s in record.get("stages") or []]
        if not stages or not all(state.data["stages"].get(s) for s in stages):
            continue
        if not all(Path(str(f)).is_file() for f in record.get("outputs") or []):
            continue  # a stage's output is gone: the full path runs that stage again (Stage.still_done)
        if not _lock_free(candidate):
            return None
        if record.get("key") == converged_key(site, candidate, Path(record.get("kubespray_root", ""))):
            return candidate, stages
    return None
