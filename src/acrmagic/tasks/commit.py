"""Commit triggers: a task with a git context runs when its branch's head moves.

The head is read with `git ls-remote` (gitsource.head), once per (repository, branch, token) per tick,
in parallel, however many tasks watch that branch. A task fires when the head differs from the one it
last saw; a task with no baseline yet (created offline, re-enabled) takes the head it first sees as the
baseline and does not fire. The fire's payload is ACR's commit trigger details; the run builds exactly
that commit. Webhook deliveries (webhook.py) fire through the same check of the head against the state.
"""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Callable

from .. import gitsource
from ..acrspec import COMMIT_TRIGGER
from ..errors import AcrMagicError
from . import definition as d
from . import launch
from .store import Fire, TaskStore, new_fire_id
from .trigger_state import COMMIT_ERROR, TriggerState

KIND = COMMIT_TRIGGER

Heads = Callable[[str, str, "str | None"], str]  # (repository, branch, token) -> head commit


def fetch_heads(resources: list[dict], heads: Heads, pool: Executor, home: str) -> dict[str, object]:
    """{task: head commit or the AcrMagicError that stopped reading it}, for every task with a commit
    trigger; each (repository, branch, token) asked once, on `pool`."""
    wanted: dict[str, tuple] = {}
    out: dict[str, object] = {}
    for resource in resources:
        if d.commit_trigger(resource) and d.git_source(resource):
            repo, branch, _ = d.git_source(resource)
            try:
                wanted[resource["name"]] = (repo, branch, launch.git_token(resource, home))
            except AcrMagicError as e:
                out[resource["name"]] = e
    keys = sorted(set(wanted.values()), key=lambda k: (k[0], k[1], k[2] or ""))

    def ask(key):
        try:
            return heads(*key)
        except AcrMagicError as e:
            return e
    if keys:
        answers = dict(zip(keys, pool.map(ask, keys)))
        out.update({name: answers[key] for name, key in wanted.items()})
    return out


def payload(repository: str, branch: str, head: str) -> dict:
    """ACR's commit trigger details."""
    return {"id": new_fire_id(), "eventType": "commit", "commitId": head, "branchName": branch,
            "repositoryUrl": repository, "providerType": gitsource.provider(repository)}


def check(store: TaskStore, resource: dict, state: TriggerState, heads: dict[str, object],
          errors: dict[str, str]) -> list[Fire]:
    """The task's commit fire, if its head moved (`heads` from fetch_heads); a head that could not be
    read goes to `errors`."""
    name = resource["name"]
    if name not in heads:
        return []
    head = heads[name]
    if isinstance(head, Exception):
        errors[COMMIT_ERROR] = str(head)
        return []
    last = state.commit.last
    if last == head:
        return []
    if last is None:  # no baseline yet: the head now is the baseline
        store.set_commit_baseline(name, head)
        return []
    repo, branch, _ = d.git_source(resource)
    fire = store.fire_commit(name, KIND, payload(repo, branch, head), last, head)
    return [fire] if fire else []


def describe(details: dict) -> str:
    return f"commit {details['commitId'][:12]} on {details['branchName']}"
