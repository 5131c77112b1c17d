"""The pxe_server role's dnsmasq configuration in both DHCP modes, checked by the real dnsmasq (``--test``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "playbooks" / "roles" / "pxe_server"


def _render(tmp_path: Path, **over: Any) -> str:
    values = {**yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()), "kprov_pxe_root": str(tmp_path),
              **over}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(ROLE / "templates")), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("kprov-pxe.conf.j2").render(**values)


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq is installed by .ci/run")
@pytest.mark.parametrize("mode", [
    {"kprov_pxe_dhcp_mode": "full", "kprov_pxe_dhcp_range": ["10.9.0.100", "10.9.0.150"],
     "kprov_pxe_dhcp_router": "10.9.0.1", "kprov_pxe_dhcp_dns": ["10.9.0.2", "10.9.0.3"]},
    {"kprov_pxe_dhcp_mode": "proxy", "kprov_pxe_proxy_subnet": "10.9.0.0"},
], ids=["full", "proxy"])
def test_dnsmasq_accepts_the_configuration(tmp_path: Path, mode: dict[str, Any]) -> None:
    for d in ("tftp", "hosts"):
        (tmp_path / d).mkdir()
    conf = tmp_path / "kprov-pxe.conf"
    conf.write_text(_render(tmp_path, **mode))
    proc = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    text = conf.read_text()
    assert "tftp-unique-root=mac" in text and "port=0" in text
    if mode["kprov_pxe_dhcp_mode"] == "full":
        assert "dhcp-ignore=tag:!known" in text and "dhcp-range=10.9.0.100,10.9.0.150,255.255.255.0,1h" in text
        assert "dhcp-option=option:dns-server,10.9.0.2,10.9.0.3" in text
    else:
        assert "dhcp-range=10.9.0.0,proxy" in text
        assert all("tag:known" in line for line in text.splitlines() if line.startswith("pxe-service="))


def test_a_broken_line_is_caught_by_dnsmasq(tmp_path: Path) -> None:
    """The check above can fail: dnsmasq --test refuses a bad range (the role validates with it too)."""
    if shutil.which("dnsmasq") is None:
        pytest.skip("dnsmasq is installed by .ci/run")
    for d in ("tftp", "hosts"):
        (tmp_path / d).mkdir()
    conf = tmp_path / "kprov-pxe.conf"
    conf.write_text(_render(tmp_path, kprov_pxe_dhcp_range=["10.9.0.100", "not-an-address"]))
    proc = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
