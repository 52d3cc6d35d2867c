"""GitHub push webhooks: signatures checked (bad ones rejected and logged), a push fires the task's
commit trigger once (polling then sees the commit as known), served on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess

import pytest
from starlette.testclient import TestClient

import acrmagic.tasks as tasks
from acrmagic.errors import UsageError
from acrmagic.tasks import webhook
from acrmagic.tasks.scheduler import Scheduler
from acrmagic.tasks.store import TaskStore

from test_tasks_scheduler import Repo

SECRET = "webhook-test-secret"


def push(url: str, sha: str, branch: str = "main") -> bytes:
    return json.dumps({"ref": f"refs/heads/{branch}", "after": sha,
                       "repository": {"clone_url": url, "html_url": url.removesuffix(".git")}}).encode()


def headers(body: bytes, event: str = "push", secret: str = SECRET) -> dict:
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": webhook.signature(secret, body),
            "Content-Type": "application/json"}


@pytest.fixture
def task_repo(tmp_path):
    repo = Repo(tmp_path, {"Dockerfile": "FROM busybox\n"})
    tasks.create("hooked-task", context=repo.url, file="Dockerfile", image=["hook-test:{{.Run.ID}}"])
    return repo


def test_good_and_bad_signatures(task_repo):
    store, lines = TaskStore(), []
    client = TestClient(webhook.app(store, SECRET, log=lines.append))
    sha = task_repo.commit({"Dockerfile": "FROM busybox\nRUN echo hook\n"})
    body = push(task_repo.url, sha)
    assert client.post("/", content=body, headers=headers(body, secret="wrong")).status_code == 401
    no_signature = {k: v for k, v in headers(body).items() if k != "X-Hub-Signature-256"}
    assert client.post("/webhook", content=body, headers=no_signature).status_code == 401
    assert any("rejected delivery d-1: bad" in line for line in lines)
    assert any("missing X-Hub-Signature-256" in line for line in lines)
    assert store.open_fires() == []

    answer = client.post("/", content=body, headers=headers(body))
    assert answer.status_code == 200 and answer.json() == {"fired": ["hooked-task"]}
    assert client.post("/", content=body, headers=headers(body)).json() == {"fired": []}  # redelivered: once
    [fire] = store.open_fires()
    assert fire.kind == "Commit" and fire.payload["commitId"] == sha and fire.payload["eventType"] == "commit"
    assert Scheduler(store).check().fired == []  # polling knows the commit now

    ping = b"{}"
    assert client.post("/", content=ping, headers=headers(ping, event="ping")).json() == {"message": "pong"}
    other = push("https://github.com/else/where.git", sha)
    assert client.post("/", content=other, headers=headers(other)).json() == {"fired": []}


def test_the_secret_never_comes_from_argv(tmp_path, monkeypatch):
    monkeypatch.delenv(webhook.SECRET_ENV, raising=False)
    with pytest.raises(UsageError, match="ACRMAGIC_WEBHOOK_SECRET"):
        webhook.load_secret()
    monkeypatch.setenv(webhook.SECRET_ENV, "s")
    assert webhook.load_secret() == "s"
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    path.chmod(0o600)
    assert webhook.load_secret(str(path)) == "from-file"


def test_served_on_loopback(task_repo):
    import requests

    server = webhook.WebhookServer(webhook.app(TaskStore(), SECRET), 0)
    server.start()
    try:
        for _ in range(100):
            if server.port:
                break
            subprocess.run(["sleep", "0.05"])
        body = b"{}"
        answer = requests.post(f"http://127.0.0.1:{server.port}/", data=body, headers=headers(body, event="ping"),
                               timeout=5)
        assert answer.json() == {"message": "pong"}
        assert server.server.config.host == "127.0.0.1"
    finally:
        server.stop()
