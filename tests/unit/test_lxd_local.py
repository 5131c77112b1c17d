"""What ``kprov doctor --fix`` relies on for the local LXD, without a daemon: telling a root filesystem from a
unified image, the metadata kprov gives a root filesystem, which subnets this machine already uses (read with
the real ``ip``), and how repairs are run and reported."""

from __future__ import annotations

import ipaddress
import platform
import tarfile
from pathlib import Path

import pytest
import yaml

from kprov.commands import doctor as doctor_command
from kprov.doctor import Finding, FixInputs
from kprov.errors import InfrastructureError, UsageError
from kprov.events import Event, Events
from kprov.targets.lxd import local


def _tar(path: Path, members: dict[str, str]) -> Path:
    src = path.parent / f"{path.name}.src"
    for name, text in members.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    with tarfile.open(path, "w:gz") as tar:
        for name in members:
            tar.add(src / name, f"./{name}")
    return path


def test_a_unified_image_is_told_from_a_root_filesystem(tmp_path: Path) -> None:
    unified = _tar(tmp_path / "image.tar.gz", {"metadata.yaml": "architecture: x86_64\n",
                                                "rootfs/etc/hostname": "x\n"})
    rootfs = _tar(tmp_path / "rootfs.tar.gz", {"etc/hostname": "x\n", "usr/bin/true": ""})
    assert local.is_unified(unified)
    assert not local.is_unified(rootfs)
    (tmp_path / "junk.tar").write_text("not a tarball")
    with pytest.raises(UsageError, match=r"junk.tar: not a readable tarball"):
        local.is_unified(tmp_path / "junk.tar")


def test_a_root_filesystem_gets_this_machines_architecture_and_hostname_templates(tmp_path: Path) -> None:
    meta = local.metadata_tarball(tmp_path, "kprov image from rootfs.tar")
    with tarfile.open(meta) as tar:
        names = sorted(m.name for m in tar if m.isfile())
        data = yaml.safe_load(tar.extractfile("metadata.yaml").read())  # type: ignore[union-attr]
        hostname = tar.extractfile("templates/hostname.tpl").read().decode()  # type: ignore[union-attr]
    assert names == ["metadata.yaml", "templates/hostname.tpl", "templates/hosts.tpl"]
    assert data["architecture"] == local.ARCHITECTURES.get(platform.machine(), platform.machine())
    assert data["templates"]["/etc/hostname"] == {"when": ["create", "copy"], "template": "hostname.tpl"}
    assert hostname == "{{ container.name }}\n"


def test_a_subnet_this_machine_uses_is_named_with_its_interface() -> None:
    assert "lo has 127.0.0.1/8" in local.subnet_users(ipaddress.IPv4Network("127.0.5.0/24"))
    assert local.subnet_users(ipaddress.IPv4Network("198.51.100.0/24")) == []  # TEST-NET-2: nobody's


def test_import_refuses_a_missing_tarball(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no such file"):
        local.import_image(tmp_path / "nope.tar", "x")


def _events() -> tuple[Events, list[Event]]:
    seen: list[Event] = []
    events = Events([])
    events.listeners.append(seen.append)
    return events, seen


def test_repairs_run_for_failing_findings_only_and_each_is_reported() -> None:
    calls: list[str] = []

    def works(inputs: FixInputs) -> str:
        calls.append(f"works {inputs.image}")
        return "made it"

    def fails(_: FixInputs) -> str:
        calls.append("fails")
        raise InfrastructureError("cannot")

    findings = [Finding("a", False, "missing", "fix a", repair=works), Finding("b", True, "fine", repair=works),
                Finding("c", False, "missing", "fix c", repair=fails), Finding("d", False, "missing", "by hand")]
    events, seen = _events()
    assert doctor_command.repair(findings, FixInputs(image=Path("img.tar")), events) == 1
    assert calls == ["works img.tar", "fails"]
    assert [(e.event, e.message) for e in seen] == [("fixed", "a: made it"), ("warning", "c: not fixed: cannot")]


def test_a_finding_as_json_says_whether_kprov_can_fix_it_and_never_carries_the_function() -> None:
    f = Finding("x", False, "missing", "do it", repair=lambda _: "done")
    assert f.as_dict() == {"check": "x", "ok": False, "message": "missing", "fix": "do it", "severity": "error",
                           "blocking": True, "fixable": True}
    assert Finding("y", True, "ok").as_dict()["fixable"] is False


def test_a_socket_nobody_answers_on_is_a_stopped_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket  # noqa: PLC0415

    from kprov.site.load import load_site  # noqa: PLC0415
    from kprov.targets.lxd.target import Lxd  # noqa: PLC0415

    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "unix.socket"))  # the file a dead daemon leaves; nothing listens on it
    stale.close()
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    loaded = load_site(Path(__file__).resolve().parents[2] / "examples" / "local.yaml")
    [finding] = Lxd().doctor(loaded, "local", loaded.site.providers["local"])
    assert not finding.ok and finding.repair is None
    assert finding.message.startswith(f"LXD does not answer on {tmp_path / 'unix.socket'}")
    assert finding.fix.startswith("start the LXD daemon")
    (tmp_path / "unix.socket").unlink()
    [finding] = Lxd().doctor(loaded, "local", loaded.site.providers["local"])
    assert finding.message == f"no LXD socket at {tmp_path / 'unix.socket'}"
