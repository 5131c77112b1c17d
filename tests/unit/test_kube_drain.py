"""kprov's drain and PodDisruptionBudget checks (kprov.tools.kube) through the real ``kubernetes`` client against
a loopback HTTP server that answers with recorded API-server responses (recorded/kube_api.json): no API server
runs here. The server keeps every request, so the tests check what the client asked for, not only what it made of
the answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from kprov.tools import kube

RECORDED = json.loads((Path(__file__).parent / "recorded" / "kube_api.json").read_text())
PODS = "/api/v1/pods?fieldSelector=spec.nodeName%3Dw2"
PDBS = "/apis/policy/v1/poddisruptionbudgets"
EVICT_WEB = "/api/v1/namespaces/shop/pods/web-6d4cf56db6-qk8zn/eviction"
EVICT_DB = "/api/v1/namespaces/shop/pods/db-0/eviction"
WEB = "/api/v1/namespaces/shop/pods/web-6d4cf56db6-qk8zn"
DB = "/api/v1/namespaces/shop/pods/db-0"


class Recorded:
    """Answers ``(method, path)`` with the next of its recorded responses (the last one repeats)."""

    def __init__(self, script: dict[tuple[str, str], list[tuple[int, str]]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.requests: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        queue = self.script.get((method, path))
        if not queue:
            return 404, {"kind": "Status", "code": 404, "message": f"not recorded: {method} {path}"}
        status, name = queue.pop(0) if len(queue) > 1 else queue[0]
        return status, RECORDED[name]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Recorded, Path]]:
    recorded = Recorded({("GET", "/version/"): [(200, "version")]})

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, doc = recorded.answer(self.command, self.path, body)
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "users": [{"name": "admin", "user": {"token": "recorded-token"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}]}))
    try:
        yield recorded, kubeconfig
    finally:
        server.shutdown()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _drain(kubeconfig: Path, clock: Clock, timeout: float = 60) -> kube.Drained:
    with kube.connect(kubeconfig) as cluster:
        cluster.clock, cluster.sleep = clock, clock.sleep
        return cluster.drain("w2", timeout=timeout, grace_period=30, poll=5)


def _script(recorded: Recorded, **more: list[tuple[int, str]]) -> None:
    recorded.script.update({("PATCH", "/api/v1/nodes/w2"): [(200, "node_cordoned")],
                            ("GET", PODS): [(200, "pods_on_w2")], ("GET", PDBS): [(200, "pdbs")]})
    for key, answers in more.items():
        method, path = key.split(" ", 1)
        recorded.script[(method, {"EVICT_WEB": EVICT_WEB, "EVICT_DB": EVICT_DB, "WEB": WEB, "DB": DB}[path])] = \
            answers


def test_drain_cordons_evicts_what_it_may_and_waits_until_the_pods_are_gone(api: tuple[Recorded, Path]) -> None:
    recorded, kubeconfig = api
    _script(recorded, **{"POST EVICT_WEB": [(201, "eviction_created")], "POST EVICT_DB": [(201, "eviction_created")],
                         "GET WEB": [(404, "pod_not_found_web")],
                         "GET DB": [(200, "pod_db"), (200, "pod_db_recreated")]})
    clock = Clock()
    drained = _drain(kubeconfig, clock)
    assert drained.ok and drained.remaining == () and drained.blocked_by == ()
    assert drained.evicted == ("shop/web-6d4cf56db6-qk8zn", "shop/db-0")
    # DaemonSet and mirror pods stay; the finished Job's pod is not evicted either
    assert drained.left_alone == ("kube-system/calico-node-7xk2p", "kube-system/nginx-proxy-w2",
                                  "batch/report-28871-abcde")
    calls = [(m, p) for m, p, _ in recorded.requests]
    assert calls[:3] == [("GET", "/version/"), ("PATCH", "/api/v1/nodes/w2"), ("GET", PODS)]
    patch = next(b for m, _, b in recorded.requests if m == "PATCH")
    assert patch == {"spec": {"unschedulable": True}}
    eviction = next(b for m, p, b in recorded.requests if (m, p) == ("POST", EVICT_DB))
    assert eviction["metadata"] == {"name": "db-0", "namespace": "shop"}
    assert eviction["deleteOptions"]["gracePeriodSeconds"] == 30
    assert not any("calico" in p or "nginx-proxy" in p or "report" in p for _, p in calls)
    # db-0 was still the old pod at the first look and a new one (same name, new uid) at the second
    assert calls.count(("GET", DB)) == 2 and clock.slept == [5]


def test_a_budget_that_refuses_until_the_deadline_is_named_with_its_pods(api: tuple[Recorded, Path]) -> None:
    recorded, kubeconfig = api
    _script(recorded, **{"POST EVICT_WEB": [(201, "eviction_created")],
                         "POST EVICT_DB": [(429, "eviction_too_many_requests")],
                         "GET WEB": [(404, "pod_not_found_web")]})
    clock = Clock()
    drained = _drain(kubeconfig, clock, timeout=20)
    assert not drained.ok
    assert drained.evicted == ("shop/web-6d4cf56db6-qk8zn",) and drained.remaining == ("shop/db-0",)
    # the budget of the same name in another namespace does not cover shop/db-0
    assert drained.blocked_by == (kube.Budget("shop", "db", 0, ("shop/db-0",)),)
    assert "could not be drained: shop/db-0 still there; PodDisruptionBudget shop/db allows 0" in drained.summary()
    evictions = [p for m, p, _ in recorded.requests if (m, p) == ("POST", EVICT_DB)]
    assert len(evictions) == 5 and clock.now == 20  # retried every 5 s until the deadline, then stopped


def test_the_budgets_that_would_block_a_drain_are_found_before_any_change(api: tuple[Recorded, Path]) -> None:
    recorded, kubeconfig = api
    _script(recorded)
    with kube.connect(kubeconfig) as cluster:
        blockers = cluster.blockers(["w2"])
    assert blockers == [kube.Budget("shop", "db", 0, ("shop/db-0",))]  # web allows 1; other/db covers nothing here
    assert [m for m, _, _ in recorded.requests] == ["GET", "GET", "GET"]  # version, pods, budgets: nothing changed


def test_an_unexpected_answer_fails_the_drain_as_a_typed_error(api: tuple[Recorded, Path]) -> None:
    recorded, kubeconfig = api
    _script(recorded, **{"POST EVICT_WEB": [(500, "eviction_too_many_requests")]})
    with pytest.raises(kube.ApiFailed, match=r"http://127\.0\.0\.1:\d+: 500"):
        _drain(kubeconfig, Clock())


def test_a_cluster_that_does_not_answer_as_kubernetes_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(kube.Unreachable, match="no kubeconfig at"), kube.connect(tmp_path / "admin.conf"):
        pass
    (tmp_path / "admin.conf").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "u"}}]}))
    with (pytest.raises(kube.Unreachable, match="did not answer as a Kubernetes API"),
          kube.connect(tmp_path / "admin.conf", timeout=2)):
        pass


def _session(kubeconfig: Path) -> tuple[Any, list[tuple[str, str, str | None]]]:
    """What kprov.drain reads of a session: the site's drain settings, the workdir's kubeconfig, the events."""
    from types import SimpleNamespace  # noqa: PLC0415

    from kprov.site.model import Drain  # noqa: PLC0415

    seen: list[tuple[str, str, str | None]] = []
    events = SimpleNamespace(emit=lambda stage, kind, message, host=None, **data: seen.append((kind, message, host)))
    site = SimpleNamespace(kubernetes=SimpleNamespace(drain=Drain(timeout=10, grace_period=7)))
    return SimpleNamespace(site=site, workdir=SimpleNamespace(kubeconfig=kubeconfig), events=events), seen


def test_a_blocked_drain_stops_the_run_naming_the_budget(api: tuple[Recorded, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace  # noqa: PLC0415

    from kprov import drain  # noqa: PLC0415
    from kprov.exitcodes import ExitCode  # noqa: PLC0415

    clock = Clock()
    monkeypatch.setattr(kube, "time", SimpleNamespace(monotonic=clock, sleep=clock.sleep))
    recorded, kubeconfig = api
    _script(recorded, **{"POST EVICT_WEB": [(201, "eviction_created")],
                         "POST EVICT_DB": [(429, "eviction_too_many_requests")],
                         "GET WEB": [(404, "pod_not_found_web")]})
    session, seen = _session(kubeconfig)
    with pytest.raises(drain.DrainBlocked) as raised:
        drain.drain(session, "remove", ["w2"])
    assert raised.value.exit_code == ExitCode.BOOTSTRAP
    assert "PodDisruptionBudget shop/db allows 0 disruptions (covers shop/db-0)" in str(raised.value)
    assert "Nothing was removed and w2 stays cordoned" in str(raised.value)
    assert ("warning", next(m for k, m, _ in seen if k == "warning"), "w2") in seen
    eviction = next(b for m, p, b in recorded.requests if (m, p) == ("POST", EVICT_WEB))
    assert eviction["deleteOptions"]["gracePeriodSeconds"] == 7  # the site's kubernetes.drain.grace_period
    assert drain.kubespray_vars(session) == {"drain_timeout": "10s", "drain_grace_period": 7}
    assert clock.now >= 10  # it waited the site's kubernetes.drain.timeout


def test_without_an_answering_api_kubespray_drains_and_kprov_says_so(tmp_path: Path) -> None:
    from kprov import drain  # noqa: PLC0415

    session, seen = _session(tmp_path / "kubeconfig")
    assert drain.drain(session, "remove", ["w2", "w3"]) == []
    assert [k for k, _, _ in seen] == ["warning"]
    assert "Kubespray drains w2, w3 itself" in seen[0][1]
    found = drain.blockers(session, ["w2"])
    assert found.as_dict() == {"nodes": ["w2"], "unanswered": f"no kubeconfig at {tmp_path / 'kubeconfig'}",
                               "blocking": []}
    assert drain.blockers(session, []).as_dict() == {"nodes": [], "unanswered": None, "blocking": []}
