from __future__ import annotations

import re
from pathlib import Path

from kprov.exitcodes import MEANING, ExitCode


def test_readme_lists_exactly_the_exit_codes() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| ([A-Z_]+) \| (.+?) \|$", readme, re.M)
    assert rows == [(str(int(e)), e.name, MEANING[e]) for e in ExitCode]
