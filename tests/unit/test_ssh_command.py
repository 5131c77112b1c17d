"""``kprov ssh``: the argv it execs goes through the site's ssh_config (key, recorded host keys), to a node the
site has; anything else is a usage error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from kprov import api
from kprov.errors import UsageError
from tests.unit.test_snapshot_command import _brought_up


def test_the_argv_uses_the_sites_config_and_passes_the_command_after_a_double_dash(
        write_site: Callable[..., Path]) -> None:
    site = write_site()
    with pytest.raises(UsageError, match=r"site lab has no nodes yet: run `kprov up` first"):
        api.ssh_command(site, "w1")
    wd = _brought_up(site)
    argv = api.ssh_command(site, "w1", ["cat", "/etc/hostname"])
    assert argv == [shutil.which("ssh"), "-F", str(wd.ssh_config), "w1", "--", "cat", "/etc/hostname"]
    config = wd.ssh_config.read_text()
    assert "Host w1\n  HostName 192.168.77.11\n  User root" in config
    assert "StrictHostKeyChecking accept-new" in config and f'UserKnownHostsFile "{wd.known_hosts}"' in config
    assert api.ssh_command(site, "cp1")[-2:] == ["-t", "cp1"]  # interactive: a terminal
    with pytest.raises(UsageError, match=r"site lab has no node 'w9' \(its nodes: cp1, w1, w2\)"):
        api.ssh_command(site, "w9")
