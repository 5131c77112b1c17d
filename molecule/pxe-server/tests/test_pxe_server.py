"""molecule verify for playbooks/pxe-server.yml: what a PXE server for kprov must be, checked on the machine."""

from __future__ import annotations

import base64
import io
import json
import tarfile

import pytest

ROOT = "/srv/kprov-pxe"
MAC = "52:54:00:0f:00:01"
TFTP_DIR = f"{ROOT}/tftp/52-54-00-0f-00-01"


@pytest.mark.parametrize("service", ["dnsmasq", "nginx"])
def test_services_run_and_start_at_boot(host, service):
    unit = host.service(service)
    assert unit.is_running and unit.is_enabled


def test_dhcp_tftp_http_listen(host):
    udp = [line.split()[3] for line in host.check_output("ss -Hlnu").splitlines()]
    assert "0.0.0.0%eth0:67" in udp  # DHCP, bound to the provisioning interface only
    assert any(addr.endswith(":69") for addr in udp)  # TFTP
    assert host.socket("tcp://0.0.0.0:8080").is_listening


def test_dnsmasq_configuration_is_valid_and_per_mac(host):
    conf = host.file("/etc/dnsmasq.d/kprov-pxe.conf").content_string
    assert "tftp-unique-root=mac" in conf and f"dhcp-hostsdir={ROOT}/hosts" in conf and "port=0" in conf
    assert host.run("dnsmasq --test").rc == 0


def test_ipxe_binaries_and_no_shared_script(host):
    for name in ("undionly.kpxe", "ipxe.efi"):
        assert host.file(f"{ROOT}/tftp/{name}").size > 10000
    assert not host.file(f"{ROOT}/tftp/boot.ipxe").exists  # each machine's comes from its MAC's folder


def test_http_serves_media_but_no_listing(host):
    host.run(f"echo kernel > {ROOT}/http/media/molecule-probe")
    try:
        assert host.check_output("python3 -c \"import urllib.request as u; "
                                 "print(u.urlopen('http://127.0.0.1:8080/media/molecule-probe').read().decode())\"") \
            == "kernel"
        listing = host.run("python3 -c \"import urllib.request as u; u.urlopen('http://127.0.0.1:8080/media/')\"")
        assert listing.rc != 0 and ("403" in listing.stderr or "404" in listing.stderr)  # no directory listing
    finally:
        host.run(f"rm -f {ROOT}/http/media/molecule-probe")


def _tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _publish(host, name, tar_bytes, *args):
    host.run(f"rm -f /tmp/kprov-{name}.tar")
    write = "import sys, base64; open(sys.argv[1], 'wb').write(base64.b64decode(sys.argv[2]))"
    host.run(f"python3 -c \"{write}\" /tmp/kprov-{name}.tar {base64.b64encode(tar_bytes).decode()}")
    return host.run(f"kprov-pxe publish {name} {' '.join(args)} < /tmp/kprov-{name}.tar")


def test_publish_places_files_by_mac_and_unpublish_removes_them(host):
    tar = _tar([("boot.ipxe", b"#!ipxe\n", "file"), ("seed/user-data", b"#cloud-config\n", "file"),
                ("seed/installed/meta-data", b"instance-id: m\n", "file")])
    out = _publish(host, "molecule-1", tar, "--mac", MAC.upper(), "--ip", "192.168.78.50")
    assert out.rc == 0, out.stderr
    assert json.loads(out.stdout)["mac"] == MAC
    assert host.file(f"{TFTP_DIR}/boot.ipxe").content_string == "#!ipxe\n"
    assert host.file(f"{TFTP_DIR}/boot.ipxe").mode == 0o644
    assert host.file(f"{ROOT}/http/machines/molecule-1/installed/meta-data").exists
    assert host.file(f"{ROOT}/hosts/molecule-1").content_string == f"{MAC},192.168.78.50,molecule-1\n"
    # an installed machine's network boot hands on to its disk until kprov arms the installer again
    assert json.loads(host.run("kprov-pxe disarm molecule-1").stdout)["armed"] is False
    local = host.file(f"{TFTP_DIR}/boot.ipxe").content_string
    assert "molecule-1 is installed" in local and "\nexit\n" in local
    assert host.file(f"{ROOT}/state").mode == 0o700  # the installer script waits there, out of TFTP's reach
    assert json.loads(host.run("kprov-pxe arm molecule-1").stdout)["armed"] is True
    assert host.file(f"{TFTP_DIR}/boot.ipxe").content_string == "#!ipxe\n"
    out = host.run("kprov-pxe unpublish molecule-1")
    assert out.rc == 0 and json.loads(out.stdout)["found"] is True
    for path in (TFTP_DIR, f"{ROOT}/http/machines/molecule-1", f"{ROOT}/hosts/molecule-1"):
        assert not host.file(path).exists


@pytest.mark.parametrize("members", [
    [("boot.ipxe", b"x", "file"), ("seed/../../etc/cron.d/x", b"x", "file")],
    [("boot.ipxe", b"x", "file"), ("seed/evil", b"", "link")],
    [("boot.ipxe", b"x", "file"), ("/etc/passwd", b"x", "file")],
    [("seed/user-data", b"x", "file")],
], ids=["dotdot", "symlink", "absolute", "no-boot-script"])
def test_bad_tars_are_refused_and_change_nothing(host, members):
    out = _publish(host, "molecule-2", _tar(members), "--mac", "52:54:00:0f:00:02")
    assert out.rc == 2 and out.stderr.strip().splitlines()[-1].startswith("kprov-pxe: ")
    assert not host.file(f"{ROOT}/tftp/52-54-00-0f-00-02").exists
    assert not host.file(f"{ROOT}/hosts/molecule-2").exists
