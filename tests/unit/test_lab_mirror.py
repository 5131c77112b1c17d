"""The lab builds its Debian root filesystems from the mirror this machine's apt sources name, never from an
address written in the code: a machine behind a corporate mirror or proxy works unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.nodes import SUITE, host_mirror


def test_the_deb822_source_for_the_suites_main_component_is_used(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPROV_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://mirror.corp.test/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\n"
        f"Types: deb deb-src\nURIs: http://mirror.corp.test/debian\nSuites: {SUITE} {SUITE}-updates\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    assert host_mirror(tmp_path) == "http://mirror.corp.test/debian"


def test_a_one_line_sources_list_works_and_the_environment_wins(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPROV_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text(
        f"# deb http://old.test/debian {SUITE} main\n"
        f"deb [signed-by=/usr/share/keyrings/k.gpg] http://proxy.corp.test:3142/debian {SUITE} main non-free\n")
    assert host_mirror(tmp_path) == "http://proxy.corp.test:3142/debian"
    monkeypatch.setenv("KPROV_LAB_MIRROR", "http://override.test/debian")
    assert host_mirror(tmp_path) == "http://override.test/debian"


def test_no_source_for_the_suite_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPROV_LAB_MIRROR", raising=False)
    (tmp_path / "sources.list").write_text("deb http://mirror.test/debian trixie main\n")
    with pytest.raises(RuntimeError, match="set KPROV_LAB_MIRROR"):
        host_mirror(tmp_path)
