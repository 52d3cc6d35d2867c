"""The task verbs' seam (tasks/service.py): one interface, chosen once per verb, and the rules both
sides share (checks before anything is kept, the branch of a git context, a manual run's record)."""

from __future__ import annotations

import pytest

from acrmagic import tasks
from acrmagic.errors import UsageError
from acrmagic.tasks import definition as d
from acrmagic.tasks.acr_service import AcrTasks
from acrmagic.tasks.local_service import LocalTasks
from acrmagic.tasks.service import TaskService, with_branch
from acrmagic.tasks.store import TaskStore


class _Untouchable:
    """An ACR target no call may reach: the shared checks come first."""

    def __getattr__(self, name):
        raise AssertionError(f"ACR was called ({name}) before the flags were checked")


def test_a_verb_chooses_one_service(home, monkeypatch):
    monkeypatch.delenv("ACRMAGIC_TARGET", raising=False)
    store = TaskStore()
    given = tasks.choose(store)
    assert isinstance(given, LocalTasks) and given.store is store
    assert isinstance(tasks.choose(), LocalTasks)  # no ACR registry chosen: the local store
    assert issubclass(LocalTasks, TaskService) and issubclass(AcrTasks, TaskService)


@pytest.mark.parametrize("service", [lambda: LocalTasks(TaskStore()), lambda: AcrTasks(_Untouchable())],
                         ids=["local", "acr"])
@pytest.mark.parametrize("verb, name, flags, message", [
    ("create", "abc", {"cmd": "busybox true"}, "not a valid task name"),
    ("create", "good-name", {"cmd": "busybox true", "timeout": 5}, "--timeout"),
    ("update", "good-name", {"colour": "red"}, "unknown field .colour."),
])
def test_both_sides_check_the_same_way_before_anything_is_kept(home, service, verb, name, flags, message):
    with pytest.raises(UsageError, match=message):
        getattr(service(), verb)(name, flags)
    assert TaskStore().names() == []


def test_a_manual_run_is_recorded_as_acr_records_az_acr_task_run():
    # tests/data/acr_recorded/test_acr_task.json: `az acr task run` of a Docker task and of a --cmd task
    # both made runs of runType QuickRun; only a trigger's runs are AutoBuild / AutoRun
    assert d.manual_trigger("nightly") == {"runType": "QuickRun", "type": "Manual", "task": "nightly", "details": {}}


def test_a_context_that_names_its_branch_or_is_a_folder_is_kept(tmp_path):
    for flags in ({"context": str(tmp_path)}, {"context": "https://github.com/me/srv.git#dev:sub"}, {}):
        assert with_branch("nightly", flags) is flags
