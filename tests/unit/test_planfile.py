"""The plan file's pure parts: Terraform's sensitive values redacted wherever its masks say, no-ops left out,
changes compared resource by resource, and what a stale plan names."""

from __future__ import annotations

from kprov import planfile
from kprov.planfile import Made


def test_sensitive_values_are_redacted_where_the_mask_says_at_any_depth() -> None:
    value = {"name": "cp-1", "extra_config": {"guestinfo.userdata": "secret", "plain": "x"}, "disks": [
        {"size": 40, "key": "k1"}, {"size": 80, "key": "k2"}]}
    mask = {"extra_config": {"guestinfo.userdata": True}, "disks": [{"key": True}, {}]}
    assert planfile.redact(value, mask) == {
        "name": "cp-1", "extra_config": {"guestinfo.userdata": "(sensitive)", "plain": "x"},
        "disks": [{"size": 40, "key": "(sensitive)"}, {"size": 80, "key": "k2"}]}
    assert planfile.redact("whole", True) == "(sensitive)" and planfile.redact("kept", False) == "kept"


def test_changes_leave_out_no_ops_and_reads_and_sort_by_address() -> None:
    show = {"variables": {"vc_password": {"value": "pw"}}, "resource_changes": [
        {"address": "b", "change": {"actions": ["no-op"], "before": {}, "after": {}}},
        {"address": "c", "change": {"actions": ["create"], "before": None, "after": {"p": "pw"},
                                    "after_sensitive": {"p": True}, "after_unknown": {"id": True}}},
        {"address": "a", "change": {"actions": ["delete", "create"], "before": {"x": 1}, "after": {"x": 2}}},
        {"address": "d", "change": {"actions": ["read"]}}]}
    changes = planfile.changes_of(show)
    assert [c["address"] for c in changes] == ["a", "c"]
    assert changes[1]["after"] == {"p": "(sensitive)"} and changes[1]["after_unknown"] == {"id": True}
    assert "pw" not in str(changes)


def test_differences_name_each_address_that_changed_appeared_or_went() -> None:
    a = [{"address": "x", "actions": ["create"]}, {"address": "y", "actions": ["update"]}]
    b = [{"address": "x", "actions": ["create"]}, {"address": "y", "actions": ["delete"]},
         {"address": "z", "actions": ["create"]}]
    assert planfile.differences(a, b) == ["y", "z"]
    assert planfile.differences(a, list(reversed(a))) == []


def test_a_stale_plan_names_everything_that_changed() -> None:
    made = Made(site_file="site.yaml", site_digest="s1", terraform_tree="t1", kubespray="k1", state_lineage="L",
                state_serial=3)
    now = made.model_copy(update={"site_digest": "s2", "state_serial": 4, "kubespray": "k2"})
    found = planfile.stale(made, now)
    assert found[0] == "the site file" and found[1].startswith("the Kubespray tree (k1 then, k2 now)")
    assert found[2].startswith("the Terraform state (serial 3 then, 4 now")
    assert planfile.stale(made, made) == []
