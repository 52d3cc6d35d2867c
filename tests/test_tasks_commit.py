"""The commit trigger's check: heads read once per branch with real git, a first head is the baseline, a
moved head fires once with ACR's payload, an unreadable repository is an error on that task only."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import acrmagic.tasks as tasks
from acrmagic import gitsource
from acrmagic.errors import UsageError
from acrmagic.tasks import commit
from acrmagic.tasks.store import TaskStore
from test_tasks_scheduler import Repo


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path, {"Dockerfile": "FROM busybox\n"})


@pytest.fixture
def pool():
    with ThreadPoolExecutor(4) as executor:
        yield executor


def test_heads_are_read_once_per_branch_however_many_tasks_watch_it(repo, home, pool):
    for name in ("first-task", "second-task"):
        tasks.create(name, context=repo.url, file="Dockerfile", image=[f"{name}:1"])
    tasks.create("no-git-task", context="/dev/null", cmd="busybox true")
    asked = []

    def head(*key):
        asked.append(key)
        return gitsource.head(*key)
    store = TaskStore()
    heads = commit.fetch_heads(store.list(), head, pool, str(home))
    tip = gitsource.head(repo.url, "main", None)
    assert heads == {"first-task": tip, "second-task": tip} and asked == [(repo.url, "main", None)]


def test_a_first_head_is_the_baseline_and_a_moved_head_fires_once(repo, home):
    tasks.create("built-task", context=repo.url, file="Dockerfile", image=["built:1"])
    store = TaskStore()
    resource = store.get("built-task")
    store.set_commit_baseline("built-task", None)
    old = gitsource.head(repo.url, "main", None)

    errors = {}
    assert commit.check(store, resource, store.trigger_state("built-task"), {"built-task": old}, errors) == []
    assert store.trigger_state("built-task").commit.last == old and store.open_fires() == [] and errors == {}

    new = repo.commit({"Dockerfile": "FROM busybox\nRUN true\n"})
    seen = store.trigger_state("built-task")
    [fire] = commit.check(store, resource, seen, {"built-task": new}, errors)
    assert fire.kind == commit.KIND == "Commit"
    assert {k: v for k, v in fire.payload.items() if k != "id"} == {
        "eventType": "commit", "commitId": new, "branchName": "main", "repositoryUrl": repo.url,
        "providerType": gitsource.provider(repo.url)}
    assert commit.describe(fire.payload) == f"commit {new[:12]} on main"
    # a second look from the same stale reading (another scheduler, a webhook) does not fire again
    assert commit.check(store, resource, seen, {"built-task": new}, errors) == []
    assert store.trigger_state("built-task").commit.last == new and len(store.open_fires()) == 1


def test_an_unreadable_head_is_an_error_of_that_task(repo, home):
    tasks.create("lost-task", context=repo.url, file="Dockerfile", image=["lost:1"])
    store = TaskStore()
    errors = {}
    fired = commit.check(store, store.get("lost-task"), store.trigger_state("lost-task"),
                         {"lost-task": UsageError("git: the repository cannot be read")}, errors)
    assert fired == [] and errors == {"commit": "git: the repository cannot be read"}
