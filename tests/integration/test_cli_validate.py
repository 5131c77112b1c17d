"""`kprov validate` (and the commands that load a site) on hostile or broken site files, as a user runs them:
exit code 3, one positioned line per problem naming the file as it was given, no traceback, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kprov.exitcodes import ExitCode
from tests.conftest import STANDIN, site_data

EXAMPLES = Path(__file__).parent.parent.parent / "examples"


def kprov(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kprov", *args], capture_output=True, text=True, cwd=cwd,
                          stdin=subprocess.DEVNULL, check=False, timeout=120)


def refused(tmp_path: Path, expected: list[str], commands: tuple[str, ...] = ("validate", "render")) -> None:
    """Each command exits 3 with exactly ``expected`` on stderr and writes nothing next to the site file."""
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in commands:
        proc = kprov(command, "site.yaml", cwd=tmp_path)
        assert proc.returncode == ExitCode.INVALID_SITE, proc.stderr
        assert proc.stderr.splitlines() == expected
        assert proc.stdout == ""
        assert not (tmp_path / ".kprov").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_nested_duplicate_key_exits_3_naming_both_positions(tmp_path: Path) -> None:
    text = yaml.safe_dump(site_data(), sort_keys=False)
    assert "  workers:\n    provider: lab\n" in text
    (tmp_path / "site.yaml").write_text(text.replace("  workers:\n    provider: lab\n",
                                                     "  workers:\n    provider: lab\n    provider: lab\n"))
    line = text.splitlines().index("  workers:") + 1
    refused(tmp_path, [f"site.yaml:{line + 2}:5: duplicate key 'provider' (first at line {line + 1}, column 5)"])


def test_a_top_level_duplicate_key_exits_3(tmp_path: Path) -> None:
    text = yaml.safe_dump(site_data(), sort_keys=False)
    (tmp_path / "site.yaml").write_text(text + "kind: Site\n")
    last = len(text.splitlines()) + 1
    refused(tmp_path, [f"site.yaml:{last}:1: duplicate key 'kind' (first at line 2, column 1)"])


def test_a_nul_byte_exits_3_with_its_position_not_an_internal_error(tmp_path: Path) -> None:
    data = site_data(metadata={"name": "lab", "description": "DESC"})
    text = yaml.safe_dump(data, sort_keys=False)
    (tmp_path / "site.yaml").write_text(text.replace("DESC", "ab\x00cd"))
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "DESC" in x)
    col = text.splitlines()[line - 1].index("DESC") + 3
    refused(tmp_path, [f"site.yaml:{line}:{col}: the site file contains a control character (U+0000)"],
            commands=("validate", "render", "plan", "up"))


def test_an_escape_character_exits_3(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("apiVersion: kprov.io/v1alpha1\nkind: Site\x1b[2J\n")
    refused(tmp_path, ["site.yaml:2:11: the site file contains a control character (U+001B)"])


def test_a_file_over_one_mebibyte_exits_3_without_being_read(tmp_path: Path) -> None:
    with (tmp_path / "site.yaml").open("wb") as f:
        f.truncate(2 * 1024 * 1024)  # all NUL: had it been read, the message would be about a control character
    refused(tmp_path, ["site.yaml:1:1: the site file is 2.0 MiB; the limit is 1 MiB"])


def test_schema_and_meaning_problems_come_in_one_run(tmp_path: Path) -> None:
    data = site_data()
    data["ssh"]["port"] = 70000
    data["pools"]["workers"]["machines"][1]["ip"] = "192.168.77.10"  # cp1's address
    text = yaml.safe_dump(data, sort_keys=False)
    (tmp_path / "site.yaml").write_text(text)
    lines = text.splitlines()
    port = lines.index("  port: 70000") + 1
    dup = max(i for i, x in enumerate(lines, 1) if x.strip() == "ip: 192.168.77.10")
    col = lines[dup - 1].index("192.168.77.10") + 1
    refused(tmp_path, [
        f"site.yaml:{port}:9: ssh.port: must be at most 65535",
        f"site.yaml:{dup}:{col}: pools.workers.machines[1].ip: duplicate node address 192.168.77.10 "
        "(also used by node cp1)",
    ])


# --- warnings: valid, but a later command would fail -------------------------------------------------------------

@pytest.fixture
def vsphere_site(tmp_path: Path) -> Path:
    """examples/vsphere.yaml with its keys next to it, but no public key; secrets stay {env: NAME} (unset)."""
    data = yaml.safe_load((EXAMPLES / "vsphere.yaml").read_text())
    data["kubernetes"]["kubespray"] = {"path": str(STANDIN)}
    data["ssh"].update(private_key="id_ed25519", public_key="keys/id_ed25519.pub")
    (tmp_path / "id_ed25519").write_text("not a real key\n")
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, sort_keys=False))
    return site


def test_validate_warns_of_a_missing_public_key_and_exits_0(vsphere_site: Path) -> None:
    proc = kprov("validate", "site.yaml", cwd=vsphere_site.parent)
    assert proc.returncode == ExitCode.OK, proc.stderr
    public = vsphere_site.parent / "keys" / "id_ed25519.pub"
    warning = next(line for line in proc.stderr.splitlines() if "ssh.public_key" in line)
    assert f"site.yaml: ssh.public_key {public} does not exist" in warning
    assert f"ssh-keygen -t ed25519 -f {public.with_suffix('')}" in warning
    assert "valid (7 nodes)" in proc.stderr
    assert not (vsphere_site.parent / ".kprov").exists()


def test_render_plan_up_without_the_public_key_fail_naming_the_path_and_the_command_writing_nothing(
        vsphere_site: Path) -> None:
    public = vsphere_site.parent / "keys" / "id_ed25519.pub"
    for command in ("render", "plan", "up"):
        proc = kprov(command, "site.yaml", cwd=vsphere_site.parent)
        assert proc.returncode == ExitCode.USAGE, proc.stderr
        assert proc.stderr == (f"kprov: ssh.public_key {public}: No such file or directory; new machines get it "
                               f"(create it: ssh-keygen -t ed25519 -f {public.with_suffix('')})\n")
        assert not (vsphere_site.parent / ".kprov").exists(), command


def test_render_works_once_the_public_key_exists(vsphere_site: Path) -> None:
    (vsphere_site.parent / "keys").mkdir()
    (vsphere_site.parent / "keys" / "id_ed25519.pub").write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK t\n")
    validate = kprov("validate", "site.yaml", cwd=vsphere_site.parent)
    assert validate.returncode == ExitCode.OK and "ssh.public_key" not in validate.stderr
    assert kprov("render", "site.yaml", cwd=vsphere_site.parent).returncode == ExitCode.OK
