"""The PXE server's publishing helper (playbooks/roles/pxe_server/files/kprov-pxe), run as a program against a
temporary root: where files land, what replaces what, and every kind of tar it must refuse."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

HELPER = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "pxe_server" / "files" / "kprov-pxe"


@pytest.fixture
def server(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    for d in ("tftp", "http/machines", "hosts"):
        (root / d).mkdir(parents=True)
    (tmp_path / "kprov-pxe.json").write_text(json.dumps({"root": str(root), "dhcp_mode": "full"}))
    return root


def _tar(*members: tuple[str, bytes | str]) -> bytes:
    """(name, bytes) is a file; (name, "->target") a symlink; (name, "/") a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if isinstance(data, str) and data.startswith("->"):
                info.type, info.linkname = tarfile.SYMTYPE, data[2:]
                tar.addfile(info)
            elif data == "/":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run(server: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    config = server.parent / "kprov-pxe.json"
    return subprocess.run([sys.executable, str(HELPER), "--config", str(config), *args], input=stdin,
                          capture_output=True, timeout=30, check=False)


GOOD = _tar(("boot.ipxe", b"#!ipxe\n"), ("seed", "/"), ("seed/user-data", b"#cloud-config\n"),
            ("seed/installed/meta-data", b"instance-id: x\n"))


def test_publish_places_files_by_mac_and_records_them(server: Path) -> None:
    proc = _run(server, "publish", "bm-01", "--mac", "52-54-00-AA-00-01", "--ip", "10.0.0.5", stdin=GOOD)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mac"] == "52:54:00:aa:00:01"
    assert (server / "tftp/52-54-00-aa-00-01/boot.ipxe").read_text() == "#!ipxe\n"
    assert (server / "http/machines/bm-01/installed/meta-data").read_text() == "instance-id: x\n"
    assert (server / "hosts/bm-01").read_text() == "52:54:00:aa:00:01,10.0.0.5,bm-01\n"
    assert (server / "tftp/52-54-00-aa-00-01/boot.ipxe").stat().st_mode & 0o777 == 0o644
    listed = json.loads(_run(server, "list").stdout)
    assert [r["name"] for r in listed] == ["bm-01"]


def test_republish_with_another_mac_replaces_everything(server: Path) -> None:
    assert _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", stdin=GOOD).returncode == 0
    second = _tar(("boot.ipxe", b"#!ipxe\n# v2\n"), ("seed/user-data", b"v2\n"))
    assert _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:02", stdin=second).returncode == 0
    assert not (server / "tftp/52-54-00-aa-00-01").exists()
    assert not (server / "http/machines/bm-01/installed").exists()
    assert (server / "tftp/52-54-00-aa-00-02/boot.ipxe").read_text().endswith("# v2\n")
    assert (server / "hosts/bm-01").read_text() == "52:54:00:aa:00:02,bm-01\n"  # no --ip: no reservation


def test_unpublish_removes_it_all_and_is_quiet_when_nothing_is_there(server: Path) -> None:
    assert _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", stdin=GOOD).returncode == 0
    proc = _run(server, "unpublish", "bm-01")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"unpublished": "bm-01", "found": True}
    assert sorted(p.name for p in server.rglob("*") if p.is_file()) == []
    again = _run(server, "unpublish", "bm-01")
    assert again.returncode == 0 and json.loads(again.stdout)["found"] is False


def test_disarm_serves_the_local_disk_script_until_armed_again_whatever_is_republished(server: Path) -> None:
    script = server / "tftp/52-54-00-aa-00-01/boot.ipxe"
    published = _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", stdin=GOOD)
    assert json.loads(published.stdout)["armed"] is True and script.read_text() == "#!ipxe\n"
    disarmed = _run(server, "disarm", "bm-01")
    assert disarmed.returncode == 0 and json.loads(disarmed.stdout)["armed"] is False
    local = script.read_text()
    assert local.startswith("#!ipxe\n") and "\nexit\n" in local and "bm-01 is installed" in local
    # new boot files for an installed machine (Terraform replaces them: unpublish, then publish) keep it on disk
    assert _run(server, "unpublish", "bm-01").returncode == 0
    again = _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01",
                 stdin=_tar(("boot.ipxe", b"#!ipxe\n# v2\n")))
    assert json.loads(again.stdout)["armed"] is False and script.read_text() == local
    assert not any("v2" in p.read_text() for p in (server / "tftp").rglob("*") if p.is_file())
    armed = _run(server, "arm", "bm-01")
    assert armed.returncode == 0 and json.loads(armed.stdout) == {"name": "bm-01", "mac": "52:54:00:aa:00:01",
                                                                  "armed": True}
    assert script.read_text() == "#!ipxe\n# v2\n"
    missing = _run(server, "arm", "bm-09")
    assert missing.returncode == 1 and missing.stderr == b"kprov-pxe: bm-09 is not published here\n"


def test_proxy_mode_reserves_no_address(server: Path) -> None:
    (server.parent / "kprov-pxe.json").write_text(json.dumps({"root": str(server), "dhcp_mode": "proxy"}))
    assert _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", "--ip", "10.0.0.5",
                stdin=GOOD).returncode == 0
    assert (server / "hosts/bm-01").read_text() == "52:54:00:aa:00:01,bm-01\n"


@pytest.mark.parametrize(("members", "message"), [
    ((("boot.ipxe", b"x"), ("seed/../../../etc/cron.d/evil", b"x")), "not allowed"),
    ((("boot.ipxe", b"x"), ("seed/evil", "->/etc/shadow")), "tar link 'seed/evil' is not allowed"),
    ((("boot.ipxe", b"x"), ("/etc/passwd", b"x")), "not allowed"),
    ((("boot.ipxe", b"x"), ("seed/a/b/c", b"x")), "not allowed"),
    ((("boot.ipxe", b"x"), ("notes.txt", b"x")), "not allowed"),
    ((("seed/user-data", b"x"),), "the tar has no boot.ipxe"),
], ids=["dotdot", "symlink", "absolute", "too-deep", "other-name", "no-script"])
def test_bad_tars_are_refused_with_nothing_changed(server: Path, members: tuple[tuple[str, bytes | str], ...],
                                                   message: str) -> None:
    proc = _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", stdin=_tar(*members))
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("kprov-pxe: ") and message in proc.stderr.decode()
    assert [p for p in server.rglob("*") if p.is_file()] == []
    assert not (server.parent / "etc").exists()


@pytest.mark.parametrize("args", [
    ("publish", "Bad_Name", "--mac", "52:54:00:aa:00:01"),
    ("publish", "bm-01", "--mac", "52:54:00:aa:00"),
    ("publish", "bm-01", "--mac", "52:54:00:aa:00:01", "--ip", "10.0.0.300"),
    ("unpublish", "../etc"),
])
def test_bad_arguments_exit_2_in_one_line(server: Path, args: tuple[str, ...]) -> None:
    proc = _run(server, *args, stdin=GOOD)
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kprov-pxe: ")


def test_not_a_tar_and_a_missing_config(server: Path, tmp_path: Path) -> None:
    proc = _run(server, "publish", "bm-01", "--mac", "52:54:00:aa:00:01", stdin=b"hello")
    assert proc.returncode == 2 and b"not a tar" in proc.stderr
    missing = subprocess.run([sys.executable, str(HELPER), "--config", str(tmp_path / "none.json"), "list"],
                             capture_output=True, check=False)
    assert missing.returncode == 1 and missing.stderr.startswith(b"kprov-pxe: cannot read")
