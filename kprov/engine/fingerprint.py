"""Digests of a stage's inputs: JSON-able values, file trees, and the identity of a source tree (Kubespray).

Kept free of heavy imports: the no-op fast path (:mod:`kprov.engine.fastpath`) uses it.

A folder's digest reads every byte under it. A caller that asks again and again (the fast path, on every no-op
``up``) can keep digests in a :class:`StatCache`: each is stored with the *stat signature* of the files it was
computed from (every entry's name, size, times, inode, mode and link text) and reused only while that signature is
identical. Writing a file changes its ctime, which no user-space call can set back, so an unchanged signature means
unchanged bytes; files changed within :data:`RACY_NS` of the walk (a file system's clock may tick coarsely, so a
second write could share the first's times) make the signature ``None``: not cached, read.

A source tree's identity is not cached that way: for a git tree, ``git diff`` already checks every tracked file's
stat data against the index in C, faster than a walk in Python once a tree has more than a few hundred files (a
Kubespray checkout has thousands). Only HEAD is read from ``.git`` directly instead of asking ``git rev-parse``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kprov.engine.workdir import write_atomic

RACY_NS = 2_000_000_000
"""A file changed less than this before the stat walk may change again without its times changing."""

_GIT_LOCATION = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES",
                 "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_NAMESPACE", "GIT_REPLACE_REF_BASE")
"""Variables that can make git find another repository or HEAD than the ``.git`` above the tree names."""
_OBJECT_NAME = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def fingerprint(*parts: Any) -> str:
    """A stable digest of JSON-able parts (dicts are key-sorted)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def file_digest(*paths: Path) -> str:
    """Digest of files' contents (missing files count as empty), e.g. a rendered module tree."""
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
            h.update(f.read_bytes() if f.exists() else b"")
    return h.hexdigest()


def tree_identity(root: Path) -> str:
    """Identity of a source tree (a Kubespray checkout): its git commit plus a digest of uncommitted changes to
    tracked files under it, or, outside git, a digest of its playbooks, roles and requirements.

    HEAD is read from the repository's files (:func:`head_commit`) rather than asked of ``git rev-parse``; if
    git then cannot diff there, it is asked after all, so the answer is always what both git calls give."""
    commit = head_commit(root)
    diff = _git_diff(root) if commit is not None else None
    if diff is None or diff.returncode != 0:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=False)
        commit = head.stdout.strip() if head.returncode == 0 and head.stdout.strip() else None
        diff = _git_diff(root) if commit is not None else None
    if commit is not None and diff is not None:
        return f"{commit}+{hashlib.sha256(diff.stdout).hexdigest()[:16]}"
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".yml", ".yaml", ".txt", ".cfg", ".py", ".j2"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _git_diff(root: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), "diff", "HEAD", "--", "."], capture_output=True, check=False)


def head_commit(root: Path) -> str | None:
    """What ``git -C root rev-parse HEAD`` prints, read from the repository's files, or None where this does not
    follow git (no repository found, a worktree, reftable, an unborn or symbolic-to-symbolic HEAD, GIT_DIR and
    co.): then git is asked. Whether git accepts the repository at all, ``git diff`` tells."""
    if any(os.environ.get(var) for var in _GIT_LOCATION):
        return None
    start = root.resolve()  # git -C chdirs, so it searches from the physical path
    try:
        for top in (start, *start.parents):
            dot = top / ".git"
            if dot.is_file():
                text = dot.read_text()
                if not text.startswith("gitdir:"):
                    return None
                gitdir = (top / text[len("gitdir:"):].strip()).resolve()
            elif dot.is_dir():
                gitdir = dot
            else:
                continue
            if not ((gitdir / "objects").is_dir() and (gitdir / "refs").is_dir()) or (gitdir / "commondir").exists() \
                    or (gitdir / "reftable").exists():
                return None  # not a repository git would stop at, or refs kept where this does not look
            head = (gitdir / "HEAD").read_text().strip()
            if _OBJECT_NAME.fullmatch(head):
                return head  # detached
            if not head.startswith("ref: refs/"):
                return None
            ref = head[len("ref: "):]
            try:
                loose = (gitdir / ref).read_text().strip()
            except FileNotFoundError:
                return _packed(gitdir / "packed-refs", ref)
            return loose if _OBJECT_NAME.fullmatch(loose) else None
    except OSError:
        return None
    return None


def _packed(packed_refs: Path, ref: str) -> str | None:
    try:
        lines = packed_refs.read_text().splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        name, _, refname = line.partition(" ")
        if refname == ref and _OBJECT_NAME.fullmatch(name):
            return name
    return None


# -- stat signatures ---------------------------------------------------------------------------------------------


class _Racy(Exception):
    """The walk met something it cannot vouch for (a file changed too recently): the caller reads instead."""


def _stat_line(h: Any, name: str, horizon: int, entry: os.DirEntry[str] | Path, link: str | None) -> None:
    """One entry's stat data: through a link (file_digest and the non-git identity read through links) and, for
    a link, the link itself and its text (what git records). ``link``: the link's text, or None if no link."""
    try:
        stats = [entry.stat(follow_symlinks=False), entry.stat()] if link is not None else [entry.stat()]
    except FileNotFoundError:
        if link is None:
            h.update(f"{name}\0-\n".encode())  # missing: its appearance changes the signature
            return
        stats = [entry.stat(follow_symlinks=False)]  # a dangling link
    for st in stats:
        if st.st_mtime_ns >= horizon or st.st_ctime_ns >= horizon:
            raise _Racy
    h.update(f"{name}\0{link or ''}".encode())
    for st in stats:
        h.update(f"\0{st.st_mode} {st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev}".encode())
    h.update(b"\n")


def _walk(h: Any, root: Path, horizon: int) -> None:
    """Every entry under ``root`` in a stable order, directories descended. A link to a directory is not vouched
    for: whether a digest reads through it depends on the Python version (``rglob``'s ``recurse_symlinks``)."""
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = rel + entry.name
            if entry.is_dir(follow_symlinks=False):
                h.update(f"{name}/\n".encode())
                stack.append((Path(entry.path), name + "/"))
            elif entry.is_symlink():
                if entry.is_dir():
                    raise _Racy
                _stat_line(h, name, horizon, entry, str(Path(entry.path).readlink()))
            else:
                _stat_line(h, name, horizon, entry, None)


def stat_signature(root: Path) -> str | None:
    """A digest of the stat data of ``root`` and everything under it, or None when it cannot vouch for unchanged
    contents: something changed within :data:`RACY_NS`, or could not be read."""
    horizon = time.time_ns() - RACY_NS
    h = hashlib.sha256(f"{root.absolute()}\n".encode())
    try:
        if root.is_dir():
            _walk(h, root, horizon)
        else:
            _stat_line(h, root.name, horizon, root, None)
    except (_Racy, OSError):
        return None
    return h.hexdigest()


class StatCache:
    """Digests remembered with the stat signature they were computed under (one JSON file, e.g. in a workdir).

    Nothing in it is trusted beyond that: an entry is used only when the signature of the same files, taken
    now, is identical; a missing, unreadable or foreign file is an empty cache."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        self._old: dict[str, Any] = data if isinstance(data, dict) else {}
        self._new: dict[str, Any] = {}

    def get(self, name: str, signature: str | None, compute: Callable[[], str]) -> str:
        """``compute()``, or what it returned under the same ``signature`` (None: always compute)."""
        entry = self._old.get(name)
        if signature is not None and isinstance(entry, dict) and entry.get("signature") == signature:
            value = entry.get("value")
            if isinstance(value, str):
                self._new[name] = entry
                return value
        value = compute()
        if signature is not None:
            self._new[name] = {"signature": signature, "value": value}
        return value

    def file_digest(self, path: Path) -> str:
        """:func:`file_digest` of one file or folder."""
        return self.get(f"files:{path.absolute()}", stat_signature(path), lambda: file_digest(path))

    def save(self) -> None:
        """Keep the entries asked for since loading, if they differ from the file's; a cache that cannot be
        written only makes the next time slower."""
        if self._new == self._old or not self.path.parent.is_dir():
            return  # (a workdir removed meanwhile, e.g. by `kprov down`, is not brought back for a cache)
        try:
            write_atomic(self.path, json.dumps(self._new, indent=1, sort_keys=True))
        except OSError:
            return
        self._old = dict(self._new)
