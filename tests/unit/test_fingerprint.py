"""Stat signatures and the StatCache (a cached digest is reused only while nothing it was computed from changed),
and a tree's identity with HEAD read from .git: always what the two git calls it replaces give."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from kprov.engine import fingerprint
from kprov.engine.fingerprint import StatCache, file_digest, head_commit, stat_signature, tree_identity


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Treat every file as changed long enough ago to vouch for (a test cannot wait RACY_NS for its files)."""
    monkeypatch.setattr(fingerprint, "RACY_NS", -3600 * 10**9)


def rewrite(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a later edit would: at a later time than its last write (a file system's
    clock ticks coarsely; in real use RACY_NS keeps such same-tick writes out of the cache)."""
    before = path.stat().st_ctime_ns if path.exists() else None
    while True:
        path.write_text(text)
        if path.stat().st_ctime_ns != before:
            return
        time.sleep(0.002)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


def tree(root: Path) -> Path:
    (root / "roles" / "r" / "tasks").mkdir(parents=True)
    (root / "cluster.yml").write_text("- hosts: all\n")
    (root / "roles" / "r" / "tasks" / "main.yml").write_text("- debug: msg=a\n")
    return root


def repo(root: Path) -> Path:
    tree(root)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "one")
    return root


# -- stat signatures and the cache ------------------------------------------------------------------------------


def test_files_changed_just_now_are_not_vouched_for(tmp_path: Path) -> None:
    assert stat_signature(tree(tmp_path / "ks")) is None


@pytest.mark.usefixtures("settled")
def test_the_signature_is_stable_while_nothing_changes(tmp_path: Path) -> None:
    root = tree(tmp_path / "ks")
    first = stat_signature(root)
    assert first is not None
    assert stat_signature(root) == first


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("change", ["same-size edit", "new file", "removed file", "chmod", "new folder",
                                    "link repointed", "file replaced by a copy", "linked file edited"])
def test_any_change_under_the_folder_changes_the_signature(tmp_path: Path, change: str) -> None:
    root = tree(tmp_path / "ks")
    (root / "other.yml").write_text("x\n")
    (root / "link.yml").symlink_to("cluster.yml")
    outside = tmp_path / "outside.yml"
    outside.write_text("o\n")
    (root / "outside.yml").symlink_to(outside)  # file_digest reads through links
    before = stat_signature(root)
    main = root / "roles" / "r" / "tasks" / "main.yml"
    if change == "same-size edit":
        rewrite(main, "- debug: msg=b\n")
    elif change == "new file":
        (root / "roles" / "r" / "tasks" / "more.yml").write_text("")
    elif change == "removed file":
        main.unlink()
    elif change == "chmod":
        main.chmod(0o755)
    elif change == "new folder":
        (root / "roles" / "s").mkdir()
    elif change == "link repointed":
        (root / "link.yml").unlink()
        (root / "link.yml").symlink_to("other.yml")
    elif change == "file replaced by a copy":
        copy = root / "copy"
        copy.write_bytes(main.read_bytes())
        os.utime(copy, ns=(main.stat().st_atime_ns, main.stat().st_mtime_ns))
        copy.replace(main)
    else:
        rewrite(outside, "p\n")
    assert stat_signature(root) != before


@pytest.mark.usefixtures("settled")
def test_the_cache_answers_while_the_signature_holds_and_reads_again_after_a_change(tmp_path: Path) -> None:
    root = tree(tmp_path / "ks")
    calls: list[str] = []

    def compute() -> str:
        calls.append("read")
        return file_digest(root)

    cache = StatCache(tmp_path / "cache.json")
    first = cache.get("ks", stat_signature(root), compute)
    cache.save()
    again = StatCache(tmp_path / "cache.json")
    assert again.get("ks", stat_signature(root), compute) == first
    assert calls == ["read"]
    rewrite(root / "cluster.yml", "- hosts: k8s\n")
    changed = again.get("ks", stat_signature(root), compute)
    assert calls == ["read", "read"] and changed != first


@pytest.mark.usefixtures("settled")
def test_a_folder_with_a_link_to_a_folder_is_not_vouched_for(tmp_path: Path) -> None:
    root = tree(tmp_path / "ks")
    (root / "linked").symlink_to(root / "roles")
    assert stat_signature(root) is None


def test_a_signature_it_cannot_vouch_for_is_never_stored(tmp_path: Path) -> None:
    cache = StatCache(tmp_path / "cache.json")
    assert cache.get("a", None, lambda: "one") == "one"
    assert cache.get("a", None, lambda: "two") == "two"
    cache.save()
    assert not (tmp_path / "cache.json").exists()


def test_a_damaged_cache_is_an_empty_one(tmp_path: Path) -> None:
    (tmp_path / "cache.json").write_text("{not json")
    assert StatCache(tmp_path / "cache.json").get("a", "sig", lambda: "v") == "v"
    (tmp_path / "cache.json").write_text('{"a": {"signature": "sig", "value": 7}}')
    assert StatCache(tmp_path / "cache.json").get("a", "sig", lambda: "v") == "v"


@pytest.mark.usefixtures("settled")
def test_cached_digests_equal_the_computed_ones(tmp_path: Path) -> None:
    plain = tree(tmp_path / "plain")
    (plain / "link.yml").symlink_to("cluster.yml")
    for _ in range(2):  # computed, then from the file
        cache = StatCache(tmp_path / "cache.json")
        assert cache.file_digest(plain) == file_digest(plain)
        assert cache.file_digest(plain / "cluster.yml") == file_digest(plain / "cluster.yml")
        cache.save()
    assert (tmp_path / "cache.json").is_file()


# -- a tree's identity ------------------------------------------------------------------------------------------


def two_git_calls(root: Path) -> str:
    """tree_identity as it was: ``git rev-parse HEAD`` and ``git diff HEAD``, or a digest outside git."""
    head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0 and head.stdout.strip():
        diff = subprocess.run(["git", "-C", str(root), "diff", "HEAD", "--", "."], capture_output=True, check=False)
        return f"{head.stdout.strip()}+{hashlib.sha256(diff.stdout).hexdigest()[:16]}"
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".yml", ".yaml", ".txt", ".cfg", ".py", ".j2"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def rev_parse(root: Path) -> str:
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.mark.parametrize("layout", ["branch", "packed", "detached", "subfolder", "gitfile", "edited"])
def test_head_read_from_git_files_is_what_git_says(tmp_path: Path, layout: str) -> None:
    root = repo(tmp_path / "ks")
    git(root, "commit", "-q", "--allow-empty", "-m", "two")
    if layout == "packed":
        git(root, "pack-refs", "--all")
        assert not list((root / ".git" / "refs" / "heads").iterdir())
    elif layout == "detached":
        git(root, "checkout", "-q", "--detach", "HEAD~1")
    elif layout == "subfolder":
        root = root / "roles" / "r"
    elif layout == "gitfile":
        other = tree(tmp_path / "separate")
        git(other, "init", "-q", "--separate-git-dir", str(tmp_path / "separate.git"))
        git(other, "add", "-A")
        git(other, "commit", "-qm", "one")
        assert (other / ".git").is_file()
        root = other
    elif layout == "edited":
        rewrite(root / "cluster.yml", "- hosts: edited\n")
    assert head_commit(root) == rev_parse(root)
    assert tree_identity(root) == two_git_calls(root)


def test_where_it_does_not_follow_git_it_asks_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo(tmp_path / "ks")
    git(root, "worktree", "add", "-q", str(tmp_path / "wt"))
    assert head_commit(tmp_path / "wt") is None  # its refs live in the main repository
    assert tree_identity(tmp_path / "wt") == two_git_calls(tmp_path / "wt")
    plain = tree(tmp_path / "plain")
    assert head_commit(plain) is None
    assert tree_identity(plain) == two_git_calls(plain)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/unborn\n")
    assert head_commit(root) is None
    assert tree_identity(root) == two_git_calls(root)
    monkeypatch.setenv("GIT_DIR", str(root / ".git"))
    assert head_commit(root) is None


def test_a_repository_git_will_not_diff_is_identified_as_before(tmp_path: Path) -> None:
    root = repo(tmp_path / "ks")
    git(root, "config", "core.bare", "true")  # git still names HEAD but will not diff: HEAD plus an empty diff
    assert head_commit(root) is not None
    assert tree_identity(root) == two_git_calls(root)


@pytest.mark.parametrize("change", ["same-size edit of a tracked file", "new commit", "staged new file"])
def test_any_change_to_the_tracked_tree_changes_the_identity(tmp_path: Path, change: str) -> None:
    root = repo(tmp_path / "ks")
    before = tree_identity(root)
    if change == "same-size edit of a tracked file":
        rewrite(root / "roles" / "r" / "tasks" / "main.yml", "- debug: msg=b\n")
    elif change == "new commit":
        git(root, "commit", "-q", "--allow-empty", "-m", "two")
    else:
        (root / "roles" / "r" / "tasks" / "more.yml").write_text("- debug: msg=c\n")
        git(root, "add", "-A")
    assert tree_identity(root) != before
