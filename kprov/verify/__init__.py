"""Verify nodes with testinfra: every check on every node it applies to, nodes in parallel over multiplexed SSH.

Uses testinfra as a library (``testinfra.get_host``), so results come back typed per host and check and are
rendered three ways from one list: a table on the terminal, NDJSON events, and JUnit XML.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import testinfra

from kprov.events import Events
from kprov.nodes import Node
from kprov.verify.suites import SITE_CHECKS, SUITES, Check, select


@dataclass(frozen=True)
class CheckResult:
    host: str
    check: str
    ok: bool
    message: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class VerifyResult:
    suite: str
    results: tuple[CheckResult, ...]

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failure_detail(self) -> str:
        """Every failed check as ``host: check: message``, for one-line errors."""
        return "; ".join(f"{r.host}: {r.check}: {r.message}" for r in self.failed)

    def table(self) -> dict[str, Any]:
        checks = list(dict.fromkeys(r.check for r in self.results))
        hosts = list(dict.fromkeys(r.host for r in self.results))
        cell = {(r.host, r.check): ("ok" if r.ok else "FAIL") for r in self.results}
        rows = [[h, *[cell.get((h, c), "-") for c in checks]] for h in hosts]
        return {"title": f"verify: {self.suite}", "columns": ["host", *checks], "rows": rows}


def _run_host(node: Node, checks: Sequence[Check], ssh_config: Path, ctx: dict[str, Any]) -> list[CheckResult]:
    host = testinfra.get_host(f"ssh://{node.ssh_user}@{node.access_ip}", ssh_config=str(ssh_config))
    out = []
    for check in checks:
        if not check.applies(node):
            continue
        start = time.monotonic()
        try:
            check.run(host, node, ctx)
            out.append(CheckResult(node.name, check.name, True, seconds=time.monotonic() - start))
        except AssertionError as exc:
            out.append(CheckResult(node.name, check.name, False, str(exc) or "assertion failed",
                                   time.monotonic() - start))
        except Exception as exc:
            msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            out.append(CheckResult(node.name, check.name, False, f"could not run: {msg}",
                                   time.monotonic() - start))
    return out


def verify(nodes: Sequence[Node], ssh_config: Path, events: Events, *, suite: str = "post-install",
           context: dict[str, Any] | None = None, stage: str = "verify", only: Collection[str] = ()) -> VerifyResult:
    """``only``: check names or tags to run (all when empty)."""
    checks = select(SUITES[suite], only)
    ctx = {"nodes": list(nodes), "hostnames": {}, **(context or {})}
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(nodes)))) as pool:
        per_host = list(pool.map(lambda n: _run_host(n, checks, ssh_config, ctx), nodes))
    site_wide = []
    for name, check in SITE_CHECKS.get(suite, ()):  # over what every node's checks gathered
        failed = check(ctx)
        site_wide += [CheckResult(n.name, name, n.name not in failed, failed.get(n.name, "")) for n in nodes]
    results = tuple(r for rs in per_host for r in rs) + tuple(site_wide)
    for r in results:
        events.emit(stage, "check", f"{r.check}: {'ok' if r.ok else r.message}", host=r.host, check=r.check,
                    ok=r.ok, seconds=round(r.seconds, 3))
    return VerifyResult(suite, results)


def write_junit(result: VerifyResult, path: Path) -> None:
    suite = ET.Element("testsuite", name=f"kprov.{result.suite}", tests=str(len(result.results)),
                       failures=str(len(result.failed)),
                       time=f"{sum(r.seconds for r in result.results):.3f}")
    for r in result.results:
        case = ET.SubElement(suite, "testcase", classname=f"kprov.{result.suite}.{r.host}", name=r.check,
                             time=f"{r.seconds:.3f}")
        ET.SubElement(ET.SubElement(case, "properties"), "property", name="host", value=r.host)
        if not r.ok:
            ET.SubElement(case, "failure", message=r.message).text = f"{r.host}: {r.check}: {r.message}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(suite)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
