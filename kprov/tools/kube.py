"""The cluster's Kubernetes API through the official Python client (``kubernetes``): does the cluster answer,
which PodDisruptionBudgets would block draining some nodes, and a drain that respects them.

A drain is what ``kubectl drain --ignore-daemonsets --delete-emptydir-data`` does: cordon the node, ask the
eviction API to evict every pod on it except DaemonSet and mirror (static) pods, retry the evictions a budget
refuses (HTTP 429) until a deadline, and wait until the evicted pods are gone. kprov does it itself rather than
leaving it to a ``kubectl`` task in a playbook so that a drain a budget blocks ends with the budget and its pods
named, as a typed :class:`Drained`, instead of a timeout in an Ansible log (KubeOne #1289), and so the plan can
name those budgets before anything starts.

The client writes the kubeconfig's embedded certificates and key to files; :func:`connect` has it write them into
a private temporary folder that is removed when the connection closes."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"


class Unreachable(Exception):
    """The cluster did not answer (no kubeconfig, no route, not a Kubernetes API, refused credentials)."""


class ApiFailed(Exception):
    """A request to a cluster that had answered failed (an error status other than the ones a drain expects, or
    the connection dropped)."""


@dataclass(frozen=True)
class Budget:
    """A PodDisruptionBudget that allows no disruption now, and the pods on the nodes in question it covers."""

    namespace: str
    name: str
    disruptions_allowed: int
    pods: tuple[str, ...]

    def __str__(self) -> str:
        return (f"PodDisruptionBudget {self.namespace}/{self.name} allows {self.disruptions_allowed} disruptions "
                f"(covers {', '.join(self.pods)})")

    def as_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "disruptions_allowed": self.disruptions_allowed,
                "pods": list(self.pods)}


@dataclass(frozen=True)
class Drained:
    """What a drain did: pods evicted (and gone), pods left alone (DaemonSet, mirror), and, when it ran out of
    time, the pods still there and the budgets that refused their eviction."""

    node: str
    evicted: tuple[str, ...] = ()
    left_alone: tuple[str, ...] = ()
    remaining: tuple[str, ...] = ()
    blocked_by: tuple[Budget, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.remaining

    def summary(self) -> str:
        if self.ok:
            return (f"{self.node} drained: {len(self.evicted)} pods evicted, {len(self.left_alone)} left alone "
                    "(DaemonSet or static)")
        budgets = "; ".join(str(b) for b in self.blocked_by) or "no budget named them (pods did not terminate)"
        return f"{self.node} could not be drained: {', '.join(self.remaining)} still there; {budgets}"


def _pod_name(pod: Any) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def _evictable(pod: Any) -> bool:
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return False  # nothing left to stop
    if MIRROR_ANNOTATION in (pod.metadata.annotations or {}):
        return False  # the kubelet's static pod: the API cannot evict it
    return not any(ref.kind == "DaemonSet" for ref in pod.metadata.owner_references or [])


def _matches(selector: Any, labels: dict[str, str]) -> bool:
    """A LabelSelector against a pod's labels; an empty selector selects every pod of the namespace."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for expr in selector.match_expressions or []:
        present, value, values = expr.key in labels, labels.get(expr.key), expr.values or []
        ok = {"In": present and value in values, "NotIn": not present or value not in values,
              "Exists": present, "DoesNotExist": not present}.get(expr.operator, False)
        if not ok:
            return False
    return True


@dataclass
class Cluster:
    """A connected client; made by :func:`connect`."""

    api: Any
    timeout: float
    sleep: Callable[[float], None] | None = None
    """Waits between eviction rounds (None: ``time.sleep``)."""
    clock: Callable[[], float] | None = None
    """The drain's deadline clock (None: ``time.monotonic``)."""
    _core: Any = field(init=False, repr=False)
    _policy: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from kubernetes import client  # noqa: PLC0415 - deferred: 0.2 s to import

        self._core = client.CoreV1Api(self.api)
        self._policy = client.PolicyV1Api(self.api)

    def version(self) -> str:
        from kubernetes import client  # noqa: PLC0415 - deferred: 0.2 s to import

        return str(client.VersionApi(self.api).get_code(_request_timeout=self.timeout).git_version)

    def pods_on(self, node: str) -> list[Any]:
        return list(self._core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}",
                                                           _request_timeout=self.timeout).items)

    def blocking_budgets(self, pods: list[Any]) -> list[Budget]:
        """The budgets that allow no disruption now and cover at least one of ``pods``."""
        found = []
        budgets = self._policy.list_pod_disruption_budget_for_all_namespaces(_request_timeout=self.timeout).items
        for pdb in budgets:
            allowed = pdb.status.disruptions_allowed if pdb.status is not None else 0
            if allowed > 0:
                continue
            covered = [_pod_name(p) for p in pods if p.metadata.namespace == pdb.metadata.namespace
                       and _matches(pdb.spec.selector, p.metadata.labels or {})]
            if covered:
                found.append(Budget(pdb.metadata.namespace, pdb.metadata.name, allowed, tuple(covered)))
        return found

    def blockers(self, nodes: list[str]) -> list[Budget]:
        """The budgets that would block draining ``nodes`` right now."""
        return self.blocking_budgets([p for node in nodes for p in self.pods_on(node) if _evictable(p)])

    def drain(self, node: str, *, timeout: float, grace_period: int, poll: float = 2.0,
              progress: Callable[[str], None] = lambda _m: None) -> Drained:
        """Cordon ``node`` and evict its pods through the eviction API until they are gone or ``timeout``
        seconds passed; evictions a budget refuses are retried every ``poll`` seconds."""
        from kubernetes import client  # noqa: PLC0415 - deferred: 0.2 s to import
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - deferred: 0.2 s to import

        self._core.patch_node(node, {"spec": {"unschedulable": True}}, _request_timeout=self.timeout)
        pods = self.pods_on(node)
        left_alone = tuple(_pod_name(p) for p in pods if not _evictable(p))
        waiting = {p.metadata.uid: p for p in pods if _evictable(p)}
        evicted: dict[str, Any] = {}
        clock, sleep = self.clock or time.monotonic, self.sleep or time.sleep
        deadline = clock() + timeout
        while waiting:
            for uid, pod in list(waiting.items()):
                if uid in evicted:
                    continue
                body = client.V1Eviction(
                    metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace),
                    delete_options=client.V1DeleteOptions(grace_period_seconds=grace_period))
                try:
                    self._core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body,
                                                              _request_timeout=self.timeout)
                    evicted[uid] = pod
                    progress(f"evicting {_pod_name(pod)}")
                except ApiException as e:
                    if e.status == 404:
                        evicted[uid] = pod  # already gone
                    elif e.status != 429:  # 429: a budget refuses for now; retried next round
                        raise
            for uid, pod in list(evicted.items()):
                if uid in waiting and self._gone(pod):
                    del waiting[uid]
            if not waiting or clock() >= deadline:
                break
            sleep(poll)
        remaining = list(waiting.values())
        return Drained(node, evicted=tuple(_pod_name(p) for u, p in evicted.items() if u not in waiting),
                       left_alone=left_alone, remaining=tuple(_pod_name(p) for p in remaining),
                       blocked_by=tuple(self.blocking_budgets(remaining)) if remaining else ())

    def _gone(self, pod: Any) -> bool:
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - deferred: 0.2 s to import

        try:
            now = self._core.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace,
                                                 _request_timeout=self.timeout)
        except ApiException as e:
            if e.status == 404:
                return True
            raise
        return bool(now.metadata.uid != pod.metadata.uid)  # a StatefulSet's new pod of the same name


@contextmanager
def connect(kubeconfig: Path, *, timeout: float = 5.0) -> Iterator[Cluster]:
    """A :class:`Cluster` for the kubeconfig's current context, once its API answered ``/version``; raises
    :class:`Unreachable` otherwise. No retries: a cluster that does not answer at once is reported as such."""
    from kubernetes import client, config  # noqa: PLC0415 - deferred: 0.2 s to import
    from kubernetes.client.exceptions import ApiException  # noqa: PLC0415 - deferred: 0.2 s to import
    from urllib3.exceptions import HTTPError  # noqa: PLC0415 - deferred: 0.2 s to import

    if not kubeconfig.is_file():
        raise Unreachable(f"no kubeconfig at {kubeconfig}")
    with tempfile.TemporaryDirectory(prefix="kprov-kube-") as private:  # 0700, removed on exit
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration, persist_config=False,
                temp_file_path=private)
        except (config.ConfigException, OSError, ValueError) as e:
            raise Unreachable(f"{kubeconfig}: {e}") from None
        configuration.retries = 0
        with client.ApiClient(configuration) as api:
            cluster = Cluster(api, timeout)
            try:
                cluster.version()
            except ApiException as e:
                raise Unreachable(f"{configuration.host} answered {e.status} {e.reason}") from None
            except (HTTPError, OSError, ValueError) as e:
                raise Unreachable(f"{configuration.host} did not answer as a Kubernetes API: "
                                  f"{type(e).__name__}") from None
            try:
                yield cluster
            except ApiException as e:
                raise ApiFailed(f"{configuration.host}: {e.status} {e.reason}") from None
            except HTTPError as e:
                raise ApiFailed(f"{configuration.host} stopped answering: {type(e).__name__}") from None
