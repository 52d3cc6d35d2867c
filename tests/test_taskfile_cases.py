"""Every worked example of the shared reference, through acrmagic.taskfile.plan_dict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acrmagic.taskfile import plan_dict

# the shared reference beside the checkout when it is there (it may have grown), else the copy kept here
SHARED = Path(__file__).resolve().parents[2] / "shared/reference/acr-task-yaml-cases.json"
CASES_FILE = SHARED if SHARED.exists() else Path(__file__).parent / "data/acr-task-yaml-cases.json"
CASES = json.loads(CASES_FILE.read_text())


def assert_subset(expected, actual, path="$"):
    """Every key the case asserts must match; keys the case leaves out are not compared."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected a map, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing from {sorted(actual)}"
            assert_subset(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict) and "id" in expected[0]:
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert_same_order([e["id"] for e in expected], [a["id"] for a in actual], path)
        by_id = {item["id"]: item for item in actual}
        for item in expected:
            assert_subset(item, by_id[item["id"]], f"{path}[{item['id']}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def assert_same_order(expected_ids: list[str], actual_ids: list[str], path: str) -> None:
    """A case may list some of the items only, but those it lists must all be there, in its order."""
    missing = [i for i in expected_ids if i not in actual_ids]
    assert not missing, f"{path}: {missing} missing from {actual_ids}"
    assert [i for i in actual_ids if i in expected_ids] == expected_ids, f"{path}: order {actual_ids}"


def test_order_check_fails_on_a_swap_and_on_a_missing_item():
    assert_same_order(["a", "c"], ["a", "b", "c"], "$")
    for expected in (["c", "a"], ["a", "x"]):
        with pytest.raises(AssertionError):
            assert_same_order(expected, ["a", "b", "c"], "$")
        with pytest.raises(AssertionError):
            assert_subset([{"id": i} for i in expected], [{"id": i} for i in "abc"])


def test_cases_file_is_there():
    assert len(CASES) >= 40, f"the shared reference cases are missing at {CASES_FILE}"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case):
    expect = case["expect"]
    got = plan_dict(case["yaml"], case["run"])
    if not expect["ok"]:
        assert got["ok"] is False, f"expected an error, got a plan: {json.dumps(got)[:400]}"
        assert expect["error"]["contains"] in got["error"]["message"]
        assert got["error"]["kind"] == expect["error"]["kind"]
        return
    assert got["ok"] is True, got.get("error")
    if "recommended" in expect:
        assert_subset(expect["recommended"], got)
    checked = {k: v for k, v in expect.items()
               if k in ("version", "aliases", "parents", "levels", "networks")}
    assert_subset(checked, got)
    assert_same_order([w["id"] for w in expect.get("steps", [])], [s["id"] for s in got["steps"]], "$.steps")
    for want in expect.get("steps", []):
        step = next(s for s in got["steps"] if s["id"] == want["id"])
        want = dict(want)
        prefix, suffix = want.pop("cmdPrefix", None), want.pop("cmdSuffix", None)
        if prefix is not None:
            assert step["cmd"].startswith(prefix) and step["cmd"].endswith(suffix)
        assert_subset(want, step)
