"""The OData `$filter` subset of ACR's runs list (filters.py), as the CLI writes it (`TaskName eq 'x' and
Status eq 'Succeeded'`, `contains(OutputImageManifests, 'repo@digest')`, /work/shared/reference
acr-cloud-api.md 1.7 and RunFilter) and as the REST API allows it."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from acrmagic.emulator.filters import compile_filter
from acrmagic.errors import ArmError


def test_filters():
    run = {"status": "Succeeded", "runid": "ca1", "taskname": None, "runtype": "QuickBuild",
           "createtime": datetime(2026, 1, 2, tzinfo=timezone.utc), "outputimagemanifests": "emu@sha256:ab"}
    assert compile_filter("Status eq 'succeeded' and RUNID eq 'ca1'")(run)
    assert not compile_filter("status eq 'Failed'")(run)
    assert compile_filter("(status eq 'Failed' or runId eq 'ca1') and createTime lt 2027-01-01T00:00:00Z")(run)
    assert compile_filter("contains(outputImageManifests, 'EMU@sha256')")(run)
    assert not compile_filter("TaskName eq 'nightly'")(run)
    assert compile_filter(None)(run)
    for bad in ("status", "colour eq 'red'", "status xx 'a'", "contains(status)"):
        with pytest.raises(ArmError):
            compile_filter(bad)


# -- against the fields a stored run has -----------------------------------------------------------------
def _runs() -> dict[str, dict]:
    """Three runs as the store keeps them, seen through RunRecord.filter_fields (the fields $filter reads)."""
    from acrmagic.emulator.state import Registry, Store

    reg = Registry("filterreg", "rg", "00000000-0000-0000-0000-000000000000")
    store = Store([reg])
    quick = store.new_run(reg, run_type="QuickRun", platform={"os": "linux"}, agent_configuration={"cpu": 2},
                          status="Succeeded", create_time=datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc),
                          output_images=[{"repository": "app", "tag": "1", "digest": "sha256:ab12"}])
    nightly = store.new_run(reg, run_type="AutoRun", platform={"os": "linux"}, agent_configuration={"cpu": 2},
                            status="Failed", task="nightly", is_archive_enabled=True,
                            create_time=datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc))
    other = store.new_run(reg, run_type="AutoBuild", platform={"os": "linux"}, agent_configuration={"cpu": 2},
                          status="Succeeded", task="it's-mine", agent_pool_name="pool1",
                          create_time=datetime(2026, 3, 3, 10, 0, tzinfo=timezone.utc),
                          output_images=[{"repository": "app", "tag": "2", "digest": "sha256:cd34"}])
    return {r.run_id: r.filter_fields() for r in (quick, nightly, other)}


def _selected(text: str | None) -> list[str]:
    keep = compile_filter(text)
    return [run_id for run_id, fields in _runs().items() if keep(fields)]


@pytest.mark.parametrize("text, expected", [
    # as `az acr task list-runs` joins them: TaskName, Status, and contains() for --image (reference 1.7)
    ("TaskName eq 'nightly'", ["ca2"]),
    ("TaskName eq 'nightly' and Status eq 'Failed'", ["ca2"]),
    ("TaskName eq 'nightly' and Status eq 'Succeeded'", []),
    ("contains(OutputImageManifests, 'app@sha256:cd34')", ["ca3"]),
    ("contains(OutputImageManifests, 'app@')", ["ca1", "ca3"]),
    # names and string values compare without regard to case, as the service's
    ("status EQ 'SUCCEEDED'", ["ca1", "ca3"]),
    ("RUNTYPE eq 'autorun'", ["ca2"]),
    # a quote inside a string is written twice
    ("taskName eq 'it''s-mine'", ["ca3"]),
    # times compare as instants, whichever way they are written
    ("createTime ge 2026-03-02T10:00:00Z", ["ca2", "ca3"]),
    ("createTime gt 2026-03-02T11:00:00+02:00", ["ca2", "ca3"]),  # 09:00 UTC
    ("createTime lt datetime'2026-03-02T10:00:00Z'", ["ca1"]),
    ("createTime le '2026-03-02T10:00:00Z'", ["ca1", "ca2"]),
    ("createTime gt 2026-03-02", ["ca2", "ca3"]),  # a date alone is its midnight, UTC
    ("createTime ne 2026-03-01T10:00:00Z", ["ca2", "ca3"]),
    # and binds tighter than or; parentheses change that
    ("status eq 'Failed' or status eq 'Succeeded' and runId eq 'ca3'", ["ca2", "ca3"]),
    ("(status eq 'Failed' or status eq 'Succeeded') and runId eq 'ca3'", ["ca3"]),
    # null and booleans
    ("taskName eq null", ["ca1"]),
    ("taskName ne null", ["ca2", "ca3"]),
    ("finishTime lt 2030-01-01T00:00:00Z", []),  # no finish time: an order comparison with null is false
    ("isArchiveEnabled eq true", ["ca2"]),
    ("agentPoolName eq 'pool1'", ["ca3"]),
    # no filter, or only blanks: every run
    (None, ["ca1", "ca2", "ca3"]),
    ("   ", ["ca1", "ca2", "ca3"]),
])
def test_a_filter_selects_the_runs_it_names(text, expected):
    assert _selected(text) == expected


@pytest.mark.parametrize("text, says", [
    ("colour eq 'red'", "unknown field 'colour' (known: runid, runtype, status,"),
    ("status", "expected more but found 'the end'"),
    ("status xx 'a'", "unsupported operator 'xx' (use eq, ne, gt, ge, lt, le or contains())"),
    ("contains(status)", "expected , but found ')'"),
    ("contains(status, null)", "contains() needs a string"),
    ("contains(isArchiveEnabled, true)", "contains() needs a string"),
    ("(status eq 'a'", "expected ) but found 'the end'"),
    ("status eq 'a' status eq 'b'", "unexpected 'status'"),
    ("status eq 'a' and", "expected more but found 'the end'"),
    ("createTime ge 'yesterday'", "not a date and time: 'yesterday'"),
    ("createTime ge 5", "createtime needs a date and time, not '5'"),
    ("status eq 'a' ; drop", "unexpected text at position 14"),
    ("status eq runId", "expected a value, found 'runId'"),
])
def test_a_filter_outside_the_subset_is_one_400_naming_the_problem(text, says):
    with pytest.raises(ArmError) as e:
        compile_filter(text)
    assert (e.value.status, e.value.code, e.value.target) == (400, "InvalidFilter", "$filter")
    assert e.value.message.startswith("The $filter is not valid: ") and says in e.value.message
