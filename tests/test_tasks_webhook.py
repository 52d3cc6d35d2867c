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


# -- hostile deliveries: correctly signed, wrong inside --------------------------------------------------------
def _deliver(store, body: bytes, event: str = "push", heads=None):
    lines = []
    kwargs = {"heads": heads} if heads else {}
    status, answer = webhook.deliver(store, SECRET, headers(body, event), body, lines.append, **kwargs)
    return status, answer, lines


def test_a_signed_option_in_a_push_runs_nothing(task_repo, tmp_path):
    """The hole: `after` was handed to `git fetch URL <after>`, where `--upload-pack=CMD` ran CMD. Every
    field of the payload that could reach git is tried; none runs, none fires, every answer is one line."""
    marker = tmp_path / "pwned"
    option = f"--upload-pack=touch {marker}"
    sha = task_repo.commit({"Dockerfile": "FROM busybox\nRUN echo two\n"})
    store = TaskStore()
    payloads = [
        {"ref": "refs/heads/main", "after": option, "repository": {"clone_url": task_repo.url}},
        {"ref": f"refs/heads/{option}", "after": sha, "repository": {"clone_url": task_repo.url}},
        {"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": option}},
        {"ref": "refs/heads/main", "after": sha + " " + option, "repository": {"clone_url": task_repo.url}},
        {"ref": "refs/heads/main", "after": "-" + sha[1:], "repository": {"clone_url": task_repo.url}},
    ]
    for payload in payloads:
        status, answer, lines = _deliver(store, json.dumps(payload).encode())
        assert status in (200, 400), answer
        assert answer.get("fired", []) == []
        if status == 400:
            assert "\n" not in answer["error"] and lines and "not a GitHub push payload" in lines[-1]
    assert store.open_fires() == []
    assert not marker.exists()


@pytest.mark.parametrize("body, problem", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (json.dumps({"ref": 7, "after": "a" * 40, "repository": {}}).encode(), "`ref`"),
    (json.dumps({"ref": "refs/heads/main", "after": "a" * 40, "repository": "https://x/y.git"}).encode(),
     "`repository`"),
    (json.dumps({"ref": "refs/heads/main", "repository": {"clone_url": "https://x/y.git"}}).encode(), "`after`"),
    (json.dumps({"ref": "refs/heads/main", "after": None, "repository": {}}).encode(), "`after`"),
    (json.dumps({"ref": "refs/heads/main", "after": "abc", "repository": {"clone_url": "u"}}).encode(),
     "not a full hex commit"),
    (json.dumps({"ref": "refs/heads/a..b", "after": "a" * 40, "repository": {"clone_url": "u"}}).encode(),
     "not a valid branch name"),
    (json.dumps({"ref": "refs/heads/main", "after": "a" * 40, "repository": {"clone_url": 5}}).encode(),
     "names no URL"),
    (b'\xff{"ref": 1}', "not JSON"),
])
def test_malformed_payloads_are_400_with_one_line(body, problem):
    status, answer, lines = _deliver(TaskStore(), body)
    assert status == 400 and problem in answer["error"] and "\n" not in answer["error"]
    assert len(lines) == 1 and problem in lines[0]


def test_other_events_and_tags_build_nothing():
    body = json.dumps({"ref": "refs/tags/v1", "after": "a" * 40, "repository": {"clone_url": "u"}}).encode()
    assert _deliver(TaskStore(), body)[:2] == (202, {"message": "nothing to build"})
    status, answer, lines = _deliver(TaskStore(), body, event="issues")
    assert status == 400 and answer == {"error": "unsupported event issues: subscribe this webhook to push events only"}
    assert len(lines) == 1
    assert _deliver(TaskStore(), body, event="")[0] == 400


def test_served_answers_bad_payloads_400_never_500(task_repo):
    client = TestClient(webhook.app(TaskStore(), SECRET), raise_server_exceptions=False)
    for body in (b"", b"null", b"{}", b'{"ref": {"a": 1}}', b'"x"', b"\xff\xfe"):
        answer = client.post("/", content=body, headers=headers(body))
        assert answer.status_code == 400, (body, answer.text)
        assert set(answer.json()) == {"error"}


def test_a_replayed_or_late_delivery_never_builds_an_older_commit(task_repo):
    """Deliveries say that a branch moved; the commit built is the branch's head as the repository
    reports it, and only when it is newer than the one last seen."""
    store = TaskStore()
    old = task_repo.commit({"Dockerfile": "FROM busybox\nRUN echo old\n"})
    _, answer, _ = _deliver(store, push(task_repo.url, old))
    assert answer == {"fired": ["hooked-task"]}
    new = task_repo.commit({"Dockerfile": "FROM busybox\nRUN echo new\n"})
    _, answer, _ = _deliver(store, push(task_repo.url, new))
    assert answer == {"fired": ["hooked-task"]}
    assert [f.payload["commitId"] for f in store.open_fires()] == [old, new]

    _, answer, lines = _deliver(store, push(task_repo.url, old))  # replayed
    assert answer == {"fired": []} and "moved on" in lines[-1]
    newest = task_repo.commit({"Dockerfile": "FROM busybox\nRUN echo newest\n"})
    _, answer, _ = _deliver(store, push(task_repo.url, new))  # late: the branch is at `newest` by now
    assert answer == {"fired": ["hooked-task"]}
    commits = [f.payload["commitId"] for f in store.open_fires()]
    assert commits == [old, new, newest]  # in the order they were pushed; `new` never twice, `old` never again
    assert tasks.show("hooked-task").state["commit"]["last"] == newest


def test_scheduler_flags_are_checked_in_one_line(tmp_path, capsys):
    from acrmagic import cli

    for argv, problem in ((["scheduler", "--max-parallel", "0"], "--max-parallel"),
                          (["scheduler", "--webhook-port", "70000"], "--webhook-port"),
                          (["scheduler", "--webhook-port", "-1"], "--webhook-port")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert problem in err and len(err.splitlines()) == 1, err


def test_a_port_in_use_is_one_line(monkeypatch):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        with pytest.raises(UsageError, match=r"^--webhook-port \d+: cannot listen on 127\.0\.0\.1:\d+: "):
            webhook.WebhookServer(webhook.app(TaskStore(), SECRET), taken.getsockname()[1])
    finally:
        taken.close()
