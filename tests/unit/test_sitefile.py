from __future__ import annotations

from pathlib import Path

import pytest

from kprov.errors import SiteError
from kprov.site.load import load_site
from tests.conftest import site_data

SITES = Path(__file__).parent.parent / "sites"
EXAMPLES = Path(__file__).parent.parent.parent / "examples"


@pytest.mark.parametrize("path", sorted((SITES / "valid").glob("*.yaml")) + sorted(EXAMPLES.glob("*.yaml")),
                         ids=lambda p: p.name)
def test_valid_files_load(path: Path) -> None:
    loaded = load_site(path)
    assert loaded.nodes


@pytest.mark.parametrize("path", sorted((SITES / "invalid").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_invalid_files_give_exactly_their_expected_messages(path: Path) -> None:
    expected = [f"{path}:{line.removeprefix('# expect: ')}" for line in path.read_text().splitlines()
                if line.startswith("# expect: ")]
    assert expected, f"{path.name} states no '# expect:' line"
    with pytest.raises(SiteError) as info:
        load_site(path)
    assert [str(p) for p in info.value.problems] == expected


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    # schema problems in two different sections and a pool: all three at once
    site = tmp_path / "s.yaml"
    site.write_text((SITES / "invalid" / "types.yaml").read_text())
    with pytest.raises(SiteError) as info:
        load_site(site)
    assert len(info.value.problems) == 5


def test_node_order_follows_the_file(write_site) -> None:  # type: ignore[no-untyped-def]
    loaded = load_site(write_site())
    assert [n.name for n in loaded.nodes] == ["cp1", "w1", "w2"]
    assert loaded.nodes[1].labels == {}
    assert loaded.nodes[0].access_ip == "192.168.77.10"


def test_pool_and_machine_labels_merge(write_site) -> None:  # type: ignore[no-untyped-def]
    data = site_data()
    data["pools"]["workers"]["labels"] = {"zone": "a", "tier": "x"}
    data["pools"]["workers"]["machines"][0]["labels"] = {"zone": "b"}
    loaded = load_site(write_site(data))
    w1 = next(n for n in loaded.nodes if n.name == "w1")
    assert w1.labels == {"zone": "b", "tier": "x"}


def test_unreadable_file_is_a_site_error(tmp_path: Path) -> None:
    with pytest.raises(SiteError) as info:
        load_site(tmp_path / "missing.yaml")
    assert "cannot read the site file" in str(info.value)
    assert str(info.value).startswith(f"{tmp_path / 'missing.yaml'}:1:1:")
