"""The way from the Kubernetes version a cluster runs to the one the site file asks for: one minor release at a
time (kubeadm refuses more), through the newest patch release of each minor that the site's Kubespray can
install, never down."""

from __future__ import annotations

from collections.abc import Collection

from kprov.errors import UsageError


def parse(version: str) -> tuple[int, int, int]:
    try:
        major, minor, patch = (int(x) for x in version.split("."))
    except ValueError:
        raise UsageError(f"{version!r} is not a Kubernetes version like 1.35.4") from None
    return major, minor, patch


def path(current: str, target: str, supported: Collection[str] | None) -> list[str]:
    """Every version to go through, the target last; [] when the cluster runs it already."""
    cur, tgt = parse(current), parse(target)
    if tgt == cur:
        return []
    if tgt < cur:
        raise UsageError(f"the cluster runs Kubernetes {current}: kprov does not downgrade to {target} (restore an "
                         "etcd snapshot and VM snapshots taken before the upgrade instead)")
    if tgt[0] != cur[0]:
        raise UsageError(f"no upgrade path from {current} to {target}: a major release")
    known = sorted((parse(v) for v in supported), key=lambda v: v) if supported else []
    if known and tgt not in known:
        raise UsageError(f"Kubernetes {target} is not supported by the site's Kubespray (it installs "
                         f"{'.'.join(map(str, known[0]))} to {'.'.join(map(str, known[-1]))}): pin a Kubespray "
                         "release that lists it in roles/kubespray_defaults/vars/main/checksums.yml")
    steps = []
    for minor in range(cur[1] + 1, tgt[1]):
        patches = [v for v in known if v[:2] == (cur[0], minor)]
        if known and not patches:
            raise UsageError(f"no Kubernetes 1.{minor} release in the site's Kubespray to pass through on the way "
                             f"from {current} to {target} (kubeadm upgrades one minor release at a time)")
        if not known:
            raise UsageError(f"upgrading from {current} to {target} passes through 1.{minor}, but the site's "
                             "Kubespray tree is not on disk to say which patch release: run `kprov up` once first")
        steps.append(".".join(map(str, patches[-1])))
    steps.append(target)
    return steps
