"""The site-file loader refuses what it must not guess at, each with one positioned line and exit code 3:
a key written twice (at any depth), a control character, a file over the size limit; and a file with schema
problems still gets its meaning checks, so one run shows every problem."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov import api
from kprov.errors import SiteError
from kprov.exitcodes import ExitCode
from kprov.site.load import MAX_SITE_BYTES, load_site, warnings
from tests.conftest import STANDIN, site_data

SITES = Path(__file__).parent.parent / "sites"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"

# A valid static site, written out so every test knows its line numbers.
BASE = f"""\
apiVersion: kprov.io/v1alpha1
kind: Site
metadata: {{name: lab}}
kubernetes:
  version: "1.35.4"
  kubespray: {{path: {STANDIN}}}
ssh: {{user: root, private_key: id_lab}}
network: {{cidr: 192.168.77.0/24, gateway: 192.168.77.1}}
providers:
  lab: {{type: static}}
pools:
  cp:
    provider: lab
    roles: [control_plane, etcd]
    machines:
      - {{name: cp1, ip: 192.168.77.10}}
  workers:
    provider: lab
    roles: [worker]
    machines:
      - {{name: w1, ip: 192.168.77.11}}
      - {{name: w2, ip: 192.168.77.12}}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def edit(**lines: str) -> str:
    """BASE with some lines replaced: ``edit(l7="...")`` replaces line 7 (lines may hold several)."""
    out = BASE.splitlines()
    for key, value in lines.items():
        out[int(key[1:]) - 1] = value
    return "\n".join(out) + "\n"


def problems(path: Path, display_name: str | None = None) -> list[str]:
    with pytest.raises(SiteError) as info:
        load_site(path, display_name=display_name)
    assert info.value.exit_code == ExitCode.INVALID_SITE
    return [str(p) for p in info.value.problems]


def test_the_base_site_is_valid(tmp_path: Path) -> None:
    assert [n.name for n in load_site(write(tmp_path, BASE)).nodes] == ["cp1", "w1", "w2"]


# --- duplicate keys, at any depth ---------------------------------------------------------------------------

def test_a_duplicate_top_level_key_names_both_positions(tmp_path: Path) -> None:
    site = write(tmp_path, BASE + "pools:\n  other: {provider: lab}\n")
    assert problems(site, "site.yaml") == ["site.yaml:23:1: duplicate key 'pools' (first at line 11, column 1)"]


@pytest.mark.parametrize(("lines", "expected"), [
    # a block mapping inside pools.workers
    ({"l19": "    roles: [worker]\n    roles: [control_plane]"},
     "20:5: duplicate key 'roles' (first at line 19, column 5)"),
    # a flow mapping inside a list inside a pool (a machine entry)
    ({"l21": "      - {name: w1, ip: 192.168.77.11, ip: 192.168.77.13}"},
     "21:39: duplicate key 'ip' (first at line 21, column 20)"),
    # a mapping inside a flow mapping
    ({"l6": f"  kubespray: {{path: {STANDIN}, path: /elsewhere}}"},
     f"6:{len('  kubespray: {path: ') + len(str(STANDIN)) + 3}: duplicate key 'path' (first at line 6, column 15)"),
    # two pools of the same name
    ({"l17": "  cp:"}, "17:3: duplicate key 'cp' (first at line 12, column 3)"),
    # deep inside free-form vars, four mappings down
    ({"l5": '  version: "1.35.4"\n  vars:\n    a:\n      b:\n        c: 1\n        c: 2'},
     "10:9: duplicate key 'c' (first at line 9, column 9)"),
])
def test_a_duplicate_nested_key_names_both_positions(tmp_path: Path, lines: dict[str, str], expected: str) -> None:
    site = write(tmp_path, edit(**lines))
    assert problems(site) == [f"{site}:{expected}"]


def test_equal_keys_written_differently_are_duplicates(tmp_path: Path) -> None:
    # YAML 1.1 reads yes and true as the same key: the loader compares keys as parsed, not as spelled
    site = write(tmp_path, edit(l5='  version: "1.35.4"\n  vars: {yes: 1, true: 2}'))
    assert problems(site) == [f"{site}:6:18: duplicate key 'True' (first at line 6, column 10)"]


def test_every_duplicate_key_is_reported_in_one_pass(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3="metadata: {name: lab, name: lab2}", l19="    roles: [worker]\n    roles: [worker]"))
    assert problems(site, "s.yaml") == [
        "s.yaml:3:23: duplicate key 'name' (first at line 3, column 12)",
        "s.yaml:20:5: duplicate key 'roles' (first at line 19, column 5)",
    ]


def test_a_duplicate_in_an_anchored_mapping_is_reported_once(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3="metadata: &m {name: lab, name: lab}", l8="network: {cidr: 192.168.77.0/24}\nx: *m"))
    assert problems(site) == [f"{site}:3:26: duplicate key 'name' (first at line 3, column 15)"]


def test_merge_keys_may_override_what_they_merge(tmp_path: Path) -> None:
    # '<<: *anchor' brings keys in that the mapping may override: that is no duplicate
    text = edit(l12="  cp: &pool", l17="  workers:\n    <<: *pool", l18="")
    loaded = load_site(write(tmp_path, text))
    assert [n.name for n in loaded.nodes] == ["cp1", "w1", "w2"]
    assert [str(r) for r in loaded.nodes[1].roles] == ["worker"]


def test_aliases_that_expand_past_the_limit_are_refused_before_anything_validates_them(tmp_path: Path) -> None:
    # "billion laughs": 9 levels of 10 aliases each expand to 10^9 values, from a file of a few hundred bytes
    laughs = ['lol0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    laughs += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 9)]
    site = write(tmp_path, BASE + "\n".join(laughs) + "\n")
    assert problems(site) == [f"{site}:1:1: the site file expands to more than 1,000,000 values through YAML "
                              "aliases (*name); write the values out or use fewer aliases"]
    # a few levels stay well under the limit: then the unknown keys are what is wrong
    site = write(tmp_path, BASE + "\n".join(laughs[:3]) + "\n")
    assert [line.split(": ", 2)[1] for line in problems(site)] == ["lol0", "lol1", "lol2"]


def test_unhashable_keys_are_a_yaml_error_not_a_crash(tmp_path: Path) -> None:
    site = write(tmp_path, BASE + "? [a, b]\n: c\n")
    (line,) = problems(site)
    assert line.startswith(f"{site}:23:3: YAML syntax: found unhashable key")


def test_the_duplicate_key_example_gives_both_positions() -> None:
    # tests/sites/invalid/duplicate-key.yaml states only the second position in its '# expect:' line
    path = SITES / "invalid" / "duplicate-key.yaml"
    assert problems(path) == [f"{path}:9:3: duplicate key 'version' (first at line 6, column 3)"]


# --- characters YAML does not allow, found before YAML parsing --------------------------------------------------

@pytest.mark.parametrize("char", ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x84",
                                  "\x9f"])
def test_a_control_character_is_refused_with_its_position(tmp_path: Path, char: str) -> None:
    site = write(tmp_path, edit(l3=f'metadata: {{name: lab, description: "ab{char}cd"}}'))
    col = len('metadata: {name: lab, description: "ab') + 1
    assert problems(site, "site.yaml") == [
        f"site.yaml:3:{col}: the site file contains a control character (U+{ord(char):04X})"]


def test_a_nul_anywhere_is_refused_before_yaml_reads_the_file(tmp_path: Path) -> None:
    # broken YAML too: the character is reported, so YAML never saw the file
    site = write(tmp_path, "kind: [Site\n# a comment\x00\n")
    assert problems(site, "s.yaml") == ["s.yaml:2:12: the site file contains a control character (U+0000)"]


def test_non_characters_are_refused(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3='metadata: {name: lab, description: "\ufffe"}'))
    assert problems(site, "s.yaml") == ["s.yaml:3:37: the site file contains a non-character (U+FFFE)"]


def test_each_control_character_is_listed_up_to_ten(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3='metadata: {name: lab, description: "\x00"}', l10="  lab: {type: static}\x07"))
    assert problems(site, "s.yaml") == ["s.yaml:3:37: the site file contains a control character (U+0000)",
                                        "s.yaml:10:22: the site file contains a control character (U+0007)"]
    many = write(tmp_path, "\x01" * 50)
    assert len(problems(many)) == 10


def test_should_yaml_refuse_a_character_itself_it_is_still_a_positioned_site_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the scan before parsing is the first line of defence; the YAML reader's own refusal is the second
    monkeypatch.setattr("kprov.site.load._FORBIDDEN", re.compile(r"(?!x)x"))
    site = write(tmp_path, "kind: Site\nname: é a\x00b\n")
    assert problems(site, "s.yaml") == ["s.yaml:2:10: YAML: control characters are not allowed"]


def test_tab_cr_lf_and_a_bom_are_allowed(tmp_path: Path) -> None:
    text = "\ufeff# a comment with a\ttab\r\n" + BASE.replace("\n", "\r\n")
    loaded = load_site(write(tmp_path, text))
    assert len(loaded.nodes) == 3
    assert "\r" not in loaded.text  # read as text mode reads it


def test_positions_count_crlf_lines_once(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3='metadata: {name: lab, description: "\x00"}').replace("\n", "\r\n"))
    assert problems(site, "s.yaml") == ["s.yaml:3:37: the site file contains a control character (U+0000)"]


def test_a_file_that_is_not_utf8_is_refused_at_the_bad_byte(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3='metadata: {name: lab, description: "é"}').encode().replace(b"\xc3\xa9", b"\xe9"))
    assert problems(site, "s.yaml") == ["s.yaml:3:37: the site file is not UTF-8 text (byte 0xe9)"]


# --- the size limit ---------------------------------------------------------------------------------------------

def test_the_limit_is_one_mebibyte_and_holds_ten_thousand_nodes() -> None:
    assert MAX_SITE_BYTES == 1024 * 1024
    machines = [{"name": f"w-{i:05d}", "ip": f"10.{20 + i // 250}.{i % 250}.10", "labels": {"rack": f"r{i % 40}"}}
                for i in range(10_000)]
    data = site_data()
    data["network"] = {"cidr": "10.0.0.0/10"}
    data["pools"]["workers"]["machines"] = machines
    assert len(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).encode()) < MAX_SITE_BYTES * 0.8


def test_a_file_over_the_limit_is_refused_from_its_size_without_being_read(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    with site.open("wb") as f:
        f.truncate(2 * 1024 * 1024)  # sparse and all NUL: read, it would be refused for its characters instead
    assert problems(site, "site.yaml") == ["site.yaml:1:1: the site file is 2.0 MiB; the limit is 1 MiB"]


def test_a_file_at_the_limit_loads_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    padding = MAX_SITE_BYTES - len(BASE.encode()) - 2
    at_limit = BASE + "#" + "x" * padding + "\n"
    assert len(at_limit.encode()) == MAX_SITE_BYTES
    assert len(load_site(write(tmp_path, at_limit)).nodes) == 3
    over = write(tmp_path, at_limit + "\n")
    assert problems(over, "s.yaml") == [
        "s.yaml:1:1: the site file is 1,048,577 bytes; the limit is 1 MiB (1,048,576 bytes)"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_is_read_no_further_than_the_limit(tmp_path: Path) -> None:
    pipe = tmp_path / "site.yaml"
    os.mkfifo(pipe)
    sent: list[int] = []

    def feed() -> None:
        with pipe.open("wb") as f:
            try:
                for _ in range(4):
                    f.write(b"#" * MAX_SITE_BYTES)
                    sent.append(MAX_SITE_BYTES)
            except BrokenPipeError:
                pass  # the loader stopped reading: what the test wants

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert problems(pipe, "s.yaml") == ["s.yaml:1:1: the site file is larger than 1 MiB; the limit is 1 MiB"]
    writer.join(timeout=10)
    assert sum(sent) < 4 * MAX_SITE_BYTES


# --- schema and meaning problems in one pass --------------------------------------------------------------------

def test_a_schema_problem_and_a_duplicate_address_are_reported_together(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l7="ssh: {user: root, private_key: id_lab, port: 70000}",
                                l22="      - {name: w2, ip: 192.168.77.10}"))
    assert problems(site, "site.yaml") == [
        "site.yaml:7:46: ssh.port: must be at most 65535",
        "site.yaml:22:24: pools.workers.machines[1].ip: duplicate node address 192.168.77.10 (also used by node cp1)",
    ]


def test_a_bad_pool_does_not_hide_a_duplicate_between_other_pools(tmp_path: Path) -> None:
    text = edit(l21="      - {name: w1, ip: 192.168.77.11, labels: {bad label: x}}") + (
        "  edge:\n    provider: lab\n    roles: [worker]\n    machines:\n      - {name: cp1, ip: 192.168.77.20}\n")
    site = write(tmp_path, text)
    assert problems(site, "s.yaml") == [
        "s.yaml:21:48: pools.workers.machines[0].labels.bad label: 'bad label' is not a Kubernetes label key "
        "([prefix/]name, name at most 63 characters)",
        "s.yaml:27:16: pools.edge.machines[0].name: duplicate node name cp1 (also used by node cp1)",
    ]


def test_an_unknown_key_and_a_cidr_overlap_are_reported_together(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l5='  version: "1.35.4"\n  pods_cidr: 192.168.0.0/16') + "colour: blue\n")
    assert problems(site, "s.yaml") == [
        "s.yaml:6:14: kubernetes.pods_cidr: pods_cidr 192.168.0.0/16 overlaps network.cidr 192.168.77.0/24",
        "s.yaml:24:1: colour: unknown key",
    ]


def test_an_even_etcd_count_is_reported_with_a_schema_problem(tmp_path: Path) -> None:
    site = write(tmp_path, edit(l3="metadata: {name: Lab}",
                                l16="      - {name: cp1, ip: 192.168.77.10}\n      - {name: cp2, ip: 192.168.77.13}"))
    assert problems(site, "s.yaml") == [
        "s.yaml:3:18: metadata.name: 'Lab' is not a DNS label (lower-case letters, digits and '-', at most 63)",
        "s.yaml:11:1: pools: etcd needs an odd number of members for quorum, found 2 (cp1, cp2)",
    ]


def test_checks_that_need_every_node_wait_for_every_pool(tmp_path: Path) -> None:
    # the control-plane pool does not validate: "no control plane" would be a false alarm
    site = write(tmp_path, edit(l16="      - {name: cp1, ip: 192.168.77.300}"))
    assert problems(site, "s.yaml") == ["s.yaml:16:25: pools.cp.machines[0].ip: must be an IPv4 address"]


def test_a_pool_on_a_broken_provider_is_still_schema_checked(tmp_path: Path) -> None:
    # vc lacks most of its keys; its pool is checked against the vsphere pool schema, the others as usual
    text = edit(l10="  lab: {type: static}\n  vc: {type: vsphere, server: vc.example, datacenter: DC1, cluster: C1,\n"
                    "       datastore: ds, network: k8s, template: t}",
                l22="      - {name: w2, ip: 192.168.77.11}\n"
                    "  vms: {provider: vc, roles: [worker], count: 1, ip_start: 192.168.77.50, cpu: 4}")
    assert problems(write(tmp_path, text), "s.yaml") == [
        "s.yaml:11:3: providers.vc.password: required key is missing",
        "s.yaml:11:3: providers.vc.user: required key is missing",
        "s.yaml:24:24: pools.workers.machines[1].ip: duplicate node address 192.168.77.11 (also used by node w1)",
        "s.yaml:25:75: pools.vms.cpu: unknown key (did you mean 'cpus'?)",
    ]


def test_errors_name_the_site_file_as_the_user_gave_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit(l7="ssh: {user: root, private_key: id_lab, port: 0}",
                         l22="      - {name: w1, ip: 192.168.77.12}"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SiteError) as info:
        api.validate("./site.yaml")
    assert info.value.lines() == [
        "./site.yaml:7:46: ssh.port: must be at least 1",
        "./site.yaml:22:16: pools.workers.machines[1].name: duplicate node name w1 (also used by node w1)",
    ]


def test_a_valid_file_is_never_re_read_for_positions(write_site: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # ruamel.yaml (slow) reads the file only when there is a problem to place
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ruamel.yaml read a valid site file")

    monkeypatch.setattr("kprov.site.load.YAML", refuse)
    loaded = load_site(write_site())
    assert [n.name for n in loaded.nodes] == ["cp1", "w1", "w2"]
    assert set(loaded.pools) == {"cp", "workers"}


# --- warnings: what a valid site still lacks for `up` -----------------------------------------------------------

def _vsphere(tmp_path: Path, **ssh: str) -> Path:
    data = yaml.safe_load((EXAMPLES / "vsphere.yaml").read_text())
    data["kubernetes"]["kubespray"] = {"path": str(STANDIN)}
    data["ssh"].update(ssh)
    (tmp_path / "id_ed25519").write_text("not a real key\n")
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False))


def test_no_warnings_when_everything_is_there(tmp_path: Path) -> None:
    site = _vsphere(tmp_path, private_key="id_ed25519", public_key="id_ed25519.pub")
    (tmp_path / "id_ed25519.pub").write_text("ssh-ed25519 AAAA t\n")
    assert warnings(load_site(site)) == []


def test_a_missing_public_key_for_vm_targets_is_a_warning_with_the_command(tmp_path: Path) -> None:
    site = _vsphere(tmp_path, private_key="id_ed25519", public_key="keys/id.pub")
    public = tmp_path / "keys" / "id.pub"
    assert warnings(load_site(site, display_name="site.yaml")) == [
        f"site.yaml: ssh.public_key {public} does not exist; render, plan and up need it for new machines "
        f"(create it: ssh-keygen -t ed25519 -f {tmp_path / 'keys' / 'id'})"]


def test_the_public_key_defaults_to_the_private_key_with_pub(tmp_path: Path) -> None:
    site = _vsphere(tmp_path, private_key="id_ed25519")
    del_public = yaml.safe_load(site.read_text())
    del del_public["ssh"]["public_key"]
    site.write_text(yaml.safe_dump(del_public, sort_keys=False))
    (found,) = warnings(load_site(site))
    assert f"ssh.public_key {tmp_path / 'id_ed25519.pub'} does not exist" in found


def test_static_sites_need_no_public_key_but_do_need_the_private_key(write_site: Any, tmp_path: Path) -> None:
    site = write_site(site_data(ssh={"user": "root", "private_key": "missing_key"}))
    assert warnings(load_site(site, display_name="lab.yaml")) == [
        f"lab.yaml: ssh.private_key {tmp_path / 'missing_key'} does not exist "
        f"(create it: ssh-keygen -t ed25519 -f {tmp_path / 'missing_key'})"]


def test_a_missing_kubespray_path_is_a_warning(write_site: Any, tmp_path: Path) -> None:
    data = site_data()
    data["kubernetes"]["kubespray"] = {"path": "kubespray"}
    assert warnings(load_site(write_site(data), display_name="s.yaml")) == [
        f"s.yaml: kubernetes.kubespray.path {tmp_path / 'kubespray'} does not exist"]


def test_a_version_not_on_disk_is_not_checked_and_says_so(write_site: Any, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPROV_CACHE_DIR", str(tmp_path / "empty-cache"))
    data = site_data()
    data["kubernetes"]["kubespray"] = {"version": "v2.31.0"}
    assert warnings(load_site(write_site(data), display_name="s.yaml")) == [
        "s.yaml: kubernetes.version 1.35.4 not checked: Kubespray v2.31.0 is not on disk yet "
        "(`kprov up` fetches it, then checks)"]
