"""The run seam's contract (targets/base.py): what every target declares, what the runner may rely on,
and how a stopped run ends, whatever the target."""

from __future__ import annotations

import pytest

from acrmagic import runner
from acrmagic.acrspec import QUICK_BUILD, QUICK_RUN, RUN_TYPES
from acrmagic.errors import UsageError
from acrmagic.progress import Progress
from acrmagic.events import StepRecord
from acrmagic.runrequest import QuickBuild, RunRequest, StoredTaskRun, TaskRun
from acrmagic.runs.store import RunStore
from acrmagic.states import CANCELED, STOP_CANCEL, STOP_INTERRUPT, STOP_TIMEOUT, SUCCEEDED, TIMEOUT
from acrmagic.targets.acr import AcrTarget
from acrmagic.targets.base import Outcome, RunHandle, Target, stop_outcome
from acrmagic.targets.local import LocalTarget


class _Handle(RunHandle):
    def __init__(self, run_id: str):
        self.run_id, self.cancel_ref = run_id, run_id
        self.source = {"type": "folder", "path": "/tmp/a-checkout-the-record-must-not-name"}
        self.platform, self.steps, self.notes = {"os": "linux"}, [StepRecord("build")], ["submitted"]
        self.stopped = []

    def execute(self, emit):
        return Outcome(SUCCEEDED)

    def stop(self, reason):
        self.stopped.append(reason)


class _Elsewhere(Target):
    """The smallest whole target: the seam's abstract methods, nothing more."""

    kind, registry = "elsewhere", "localhost:5000"

    def describe(self):
        return {"kind": self.kind}

    def who(self):
        return "tester"

    def submit(self, request, reserve_id):
        return _Handle(reserve_id())

    def cancel(self, cancel_ref):
        raise AssertionError("not called")


def test_who_may_cancel_a_run_is_declared_by_every_target():
    assert "owner_cancels" in vars(Target) and Target.owner_cancels is False
    assert "owner_cancels" in vars(LocalTarget) and LocalTarget.owner_cancels is True  # its owner stops it cleanly
    assert "owner_cancels" in vars(AcrTarget) and AcrTarget.owner_cancels is False  # ACR cancels from anywhere
    assert _Elsewhere().owner_cancels is False


def test_a_target_gives_the_whole_seam():
    class Half(Target):
        kind, registry = "half", "localhost:5000"

        def describe(self):
            return {}

        def who(self):
            return "x"

    with pytest.raises(TypeError, match="submit"):
        Half()
    target = _Elsewhere()
    assert target.remove_leftovers() == [] and target.keeps_history is False
    for call in (target.list_runs, lambda: target.get_run("aa1"), lambda: target.run_log("aa1")):
        with pytest.raises(UsageError, match="the elsewhere target keeps no run history"):
            call()


@pytest.mark.parametrize("reason, status, words", [
    (STOP_TIMEOUT, TIMEOUT, "the run did not finish within --timeout 60s"),
    (STOP_INTERRUPT, CANCELED, "canceled by the user (interrupt)"),
    (STOP_CANCEL, CANCELED, "canceled (acrmagic cancel or the view's Cancel button)"),
    ("anything-else", CANCELED, "canceled (acrmagic cancel or the view's Cancel button)"),
])
def test_a_stopped_run_ends_the_same_on_every_target(reason, status, words):
    outcome = stop_outcome(reason, 60, "; step 2 was running")
    assert (outcome.status, outcome.error) == (status, words + "; step 2 was running")


def test_every_request_meets_the_run_request_protocol(tmp_path):
    requests: list[RunRequest] = [
        QuickBuild(context=str(tmp_path), secret_build_args={"TOKEN": "s3"}, timeout=10),
        TaskRun(task_text="steps: []\n", task_name="<cell>", context=None, set_secrets={"pw": "p4"}),
        StoredTaskRun("nightly", 600),
    ]
    for request in requests:
        assert isinstance(request.timeout, int) and isinstance(request.recorded, dict)
        assert request.run_type in RUN_TYPES and request.agent_pool is None
    assert [r.run_type for r in requests] == [QUICK_BUILD, QUICK_RUN, QUICK_RUN]
    assert [r.secrets for r in requests] == [["s3"], ["p4"], []]
    assert requests[2].recorded == {"task": "nightly"}


def test_only_a_target_that_keeps_tasks_takes_a_stored_task_run():
    with pytest.raises(UsageError, match="task nightly: the local engine keeps no tasks"):
        LocalTarget("localhost:5000").submit(StoredTaskRun("nightly"), reserve_id=lambda: "aa1")


def test_the_runner_records_the_source_it_is_given_over_the_handle(tmp_path, monkeypatch):
    monkeypatch.setenv("ACRMAGIC_HOME", str(tmp_path))
    store = RunStore(tmp_path)
    given = {"type": "git", "repository": "https://example.test/r.git", "branch": "main", "commit": "c0ffee"}
    execution = runner.start(StoredTaskRun("nightly", 60), target=_Elsewhere(), observer=Progress(), store=store,
                             source=given)
    run = execution.run()
    recorded = store.get(run.run_id)
    assert recorded.status == SUCCEEDED and recorded.backend == "elsewhere"
    assert recorded.source == given  # the checkout's path is not kept; the repository and commit are
    plain = runner.start(StoredTaskRun("nightly", 60), target=_Elsewhere(), observer=Progress(), store=store).run()
    assert store.get(plain.run_id).source["path"] == "/tmp/a-checkout-the-record-must-not-name"
