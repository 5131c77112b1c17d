"""The upgrade path (:mod:`kprov.upgrade`): one minor at a time through the newest patch Kubespray lists, never
down, never to a version Kubespray does not list."""

from __future__ import annotations

import pytest

from kprov.errors import UsageError
from kprov.upgrade import path

SUPPORTED = {f"1.33.{p}" for p in range(12)} | {f"1.34.{p}" for p in range(8)} | {f"1.35.{p}" for p in range(5)}


def test_one_minor_is_one_step_two_minors_pass_through_the_newest_patch_between() -> None:
    assert path("1.33.11", "1.34.7", SUPPORTED) == ["1.34.7"]
    assert path("1.33.2", "1.35.4", SUPPORTED) == ["1.34.7", "1.35.4"]
    assert path("1.35.0", "1.35.4", SUPPORTED) == ["1.35.4"]  # a patch release
    assert path("1.35.4", "1.35.4", SUPPORTED) == []


def test_down_unknown_and_unlisted_versions_are_refused() -> None:
    with pytest.raises(UsageError, match=r"does not downgrade to 1.34.7"):
        path("1.35.4", "1.34.7", SUPPORTED)
    with pytest.raises(UsageError, match=r"1.35.9 is not supported by the site's Kubespray \(it installs 1.33.0 to "
                                         r"1.35.4\): pin a Kubespray release"):
        path("1.34.7", "1.35.9", SUPPORTED)
    with pytest.raises(UsageError, match=r"no Kubernetes 1.34 release in the site's Kubespray to pass through"):
        path("1.33.2", "1.35.4", SUPPORTED - {f"1.34.{p}" for p in range(8)})
    with pytest.raises(UsageError, match=r"'1.35' is not a Kubernetes version like 1.35.4"):
        path("1.34.7", "1.35", SUPPORTED)
    with pytest.raises(UsageError, match=r"the site's Kubespray tree is not on disk"):
        path("1.33.2", "1.35.4", None)
    assert path("1.34.7", "1.35.4", None) == ["1.35.4"]  # one minor needs no list
