"""An optional receiver of GitHub push webhooks, on 127.0.0.1, so a commit fires its task at once
instead of at the next poll.

Every delivery's `X-Hub-Signature-256` (HMAC-SHA256 of the body with the shared secret) is checked in
constant time; a delivery with a missing or wrong signature is rejected (401) and logged. A push to a
task's repository and branch fires its commit trigger through the same outbox as polling, moving the
task's last-seen commit in the same transaction, so the next poll does not fire it again.

The secret comes from ACRMAGIC_WEBHOOK_SECRET or a 0600 file (never argv). Starlette on uvicorn, as
the emulator's HTTP front.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from . import commit, secrets
from . import definition as d
from .store import TaskStore, new_fire_id

SECRET_ENV = "ACRMAGIC_WEBHOOK_SECRET"
_ZERO = "0" * 40


def load_secret(path: str | None = None) -> str:
    if path:
        file = Path(path).expanduser()
        secrets.check_file(file, "--webhook-secret-file")
        value = file.read_text().strip()
    else:
        value = os.environ.get(SECRET_ENV, "")
    if not value:
        raise UsageError(f"webhook: no secret: set {SECRET_ENV} or give --webhook-secret-file FILE (mode 0600); "
                         "GitHub signs deliveries with it")
    return value


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _same_repo(a: str) -> str:
    """A repository URL reduced to host/path (https, ssh and git@host:path forms compare equal)."""
    url = a.strip().lower()
    url = re.sub(r"^[a-z+]+://", "", url)
    url = re.sub(r"^[^@/]+@", "", url)
    url = re.sub(r"^([^/:]+):(?!\d+/)", r"\1/", url)  # scp-like git@host:org/repo
    return url.removesuffix("/").removesuffix(".git")


def deliver(store: TaskStore, secret: str, headers: dict[str, str], body: bytes,
            log: Callable[[str], None] = lambda line: None) -> tuple[int, dict]:
    """Handle one delivery: (HTTP status, JSON answer). Pure of HTTP, so tests can call it directly."""
    headers = {k.lower(): v for k, v in headers.items()}
    delivery = headers.get("x-github-delivery", "?")
    given = headers.get("x-hub-signature-256", "")
    if not given or not hmac.compare_digest(given, signature(secret, body)):
        log(f"webhook: rejected delivery {delivery}: {'missing' if not given else 'bad'} X-Hub-Signature-256")
        return 401, {"error": "bad signature"}
    event = headers.get("x-github-event", "")
    if event == "ping":
        return 200, {"message": "pong"}
    if event != "push":
        return 202, {"message": f"ignored event {event or '(none)'}"}
    try:
        push = json.loads(body)
        ref, after = push["ref"], push["after"]
        repo = push.get("repository") or {}
    except (ValueError, KeyError, TypeError):
        log(f"webhook: delivery {delivery}: not a push payload")
        return 400, {"error": "not a GitHub push payload"}
    if not ref.startswith("refs/heads/") or after == _ZERO:  # a tag, or a deleted branch: nothing to build
        return 202, {"message": "nothing to build"}
    urls = {_same_repo(u) for u in (repo.get(k) for k in ("clone_url", "html_url", "ssh_url", "git_url", "url")) if u}
    branch = ref.removeprefix("refs/heads/")
    fired = []
    for resource, _ in store.all():
        source = d.commit_trigger(resource)
        if not d.enabled(resource) or not source:
            continue
        repository = source["sourceRepository"]
        if _same_repo(repository["repositoryUrl"]) not in urls or repository["branch"] != branch:
            continue
        payload = {"id": new_fire_id(), "eventType": "commit", "commitId": after, "branchName": branch,
                   "repositoryUrl": repository["repositoryUrl"], "providerType": commit.provider(repository["repositoryUrl"])}

        def change(state: dict) -> bool | None:
            section = state.setdefault("commit", {})
            if section.get("last") == after:
                return False  # polling saw it first
            section["last"] = after
            return None
        if store.fire(resource["name"], "Commit", payload, change):
            fired.append(resource["name"])
    log(f"webhook: delivery {delivery}: push {after[:12]} to {branch}: fired {', '.join(fired) or 'no task'}")
    return 200, {"fired": fired}


def app(store: TaskStore, secret: str, on_fire: Callable[[], None] = lambda: None,
        log: Callable[[str], None] = lambda line: None):
    """The Starlette application: POST / (or /webhook) takes GitHub deliveries."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request):
        body = await request.body()
        status, answer = deliver(store, secret, dict(request.headers), body, log)
        if answer.get("fired"):
            on_fire()
        return JSONResponse(answer, status_code=status)

    return Starlette(routes=[Route("/", receive, methods=["POST"]), Route("/webhook", receive, methods=["POST"])])


class WebhookServer:
    """uvicorn serving `app` on 127.0.0.1:port in a thread."""

    def __init__(self, application, port: int):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="acrmagic-webhook")

    def start(self) -> None:
        self.thread.start()

    @property
    def port(self) -> int | None:
        servers = getattr(self.server, "servers", None) or []
        for s in servers:
            for sock in s.sockets:
                return sock.getsockname()[1]
        return None

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
