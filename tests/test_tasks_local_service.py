"""Tasks kept on this machine (tasks/local_service.py): the store's side of the task verbs."""

from __future__ import annotations

import pytest

from acrmagic.errors import TaskFileError, UsageError
from acrmagic.tasks import definition as d
from acrmagic.tasks import secrets
from acrmagic.tasks.local_service import LocalTasks
from acrmagic.tasks.store import TaskStore


def test_a_task_kept_changed_switched_and_removed(home, monkeypatch):
    service = LocalTasks(TaskStore())
    made = service.create("nightly-check", {"cmd": "busybox true", "context": "/dev/null",
                                            "schedule": ["nightly:0 2 * * *"], "set_secret": ["pw=hunter2"]})
    assert made.resource["properties"]["status"] == d.ENABLED and "hunter2" not in str(made.resource)
    assert secrets.read(str(home), "nightly-check", "pw", d.secret_ref(service.store.get("nightly-check"), "pw"),
                        "pw") == "hunter2"
    with pytest.raises(UsageError, match="task NIGHTLY-check already exists"):
        service.create("NIGHTLY-check", {"cmd": "busybox true"})  # ACR's names are case-insensitive
    assert service.update("nightly-check", {"timeout": 600}).resource["properties"]["timeout"] == 600
    assert service.set_status("nightly-check", d.DISABLED).resource["properties"]["status"] == d.DISABLED
    assert service.set_status("nightly-check", d.ENABLED).resource["properties"]["status"] == d.ENABLED
    assert [t.name for t in service.list()] == ["nightly-check"]
    assert list(service.list_runs("nightly-check", 15, None)) == []
    service.delete("nightly-check")
    assert TaskStore().names() == []
    with pytest.raises(UsageError, match="no task 'nightly-check'"):
        service.list_runs("nightly-check", 15, None)  # an unknown task is an error, not an empty list


def test_a_task_that_cannot_run_is_not_kept_nor_its_secrets(home, tmp_path):
    service = LocalTasks(TaskStore())
    with pytest.raises(TaskFileError, match="no task file missing.yaml"):
        service.create("broken-task", {"context": str(tmp_path), "file": "missing.yaml", "set_secret": ["pw=hunter2"]})
    assert TaskStore().names() == []
    assert not any("hunter2" in p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
