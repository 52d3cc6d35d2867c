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

from .. import gitsource
from ..errors import AcrMagicError, BadDelivery, UsageError
from . import commit, launch, secrets
from . import definition as d
from .store import TaskStore
from .trigger_state import TriggerState

SECRET_ENV = "ACRMAGIC_WEBHOOK_SECRET"
_ZERO = "0" * 40
MAX_BODY = 25 << 20  # GitHub caps a delivery's payload at 25 MB


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


def read_push(body: bytes) -> tuple[str, str, set[str]] | None:
    """(branch, the pushed commit, the repository's URLs) of a push payload, each checked as data;
    None for a push with nothing to build (a tag, a deleted branch)."""
    try:
        push = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadDelivery("the body is not JSON") from None
    if not isinstance(push, dict):
        raise BadDelivery("the body is not a JSON object")
    ref, after, repo = push.get("ref"), push.get("after"), push.get("repository")
    if not isinstance(ref, str):
        raise BadDelivery("`ref` is missing or not a string")
    if not isinstance(after, str):
        raise BadDelivery("`after` is missing or not a string")
    if not isinstance(repo, dict):
        raise BadDelivery("`repository` is missing or not an object")
    try:
        after = gitsource.check_commit(after, "`after`")
    except UsageError as e:
        raise BadDelivery(str(e)) from None
    if not ref.startswith("refs/heads/") or after == _ZERO:  # a tag, or a deleted branch: nothing to build
        return None
    try:
        branch = gitsource.check_branch(ref.removeprefix("refs/heads/"), "`ref`")
    except UsageError as e:
        raise BadDelivery(str(e)) from None
    urls = {_same_repo(u) for u in (repo.get(k) for k in ("clone_url", "html_url", "ssh_url", "git_url", "url"))
            if isinstance(u, str) and u}
    if not urls:
        raise BadDelivery("`repository` names no URL")
    return branch, after, urls


def deliver(store: TaskStore, secret: str, headers: dict[str, str], body: bytes,
            log: Callable[[str], None] = lambda line: None,
            heads: Callable[[str, str, str | None], str] = gitsource.head) -> tuple[int, dict]:
    """Handle one delivery: (HTTP status, JSON answer). Pure of HTTP, so tests can call it directly.

    A delivery says *that* a branch moved, never *what* to build: the commit built is the branch's head
    as the repository itself reports it now (`heads`, git ls-remote), and only when that head is not
    the one last seen. So a replayed or late delivery never builds an older commit after a newer one,
    and nothing in the payload reaches git."""
    headers = {str(k).lower(): v for k, v in headers.items()}
    delivery = _printable(headers.get("x-github-delivery", "?"))
    given = headers.get("x-hub-signature-256", "")
    if not given or not hmac.compare_digest(given.encode(), signature(secret, body).encode()):
        log(f"webhook: rejected delivery {delivery}: {'missing' if not given else 'bad'} X-Hub-Signature-256")
        return 401, {"error": "bad signature"}
    event = headers.get("x-github-event", "")
    if event == "ping":
        return 200, {"message": "pong"}
    if event != "push":  # the receiver is subscribed to push events only: anything else is a wrong request
        log(f"webhook: delivery {delivery}: event {_printable(event) or '(none)'} refused: only push and ping")
        return 400, {"error": f"unsupported event {_printable(event) or '(none)'}: subscribe this webhook to "
                              "push events only"}
    try:
        push = read_push(body)
    except BadDelivery as e:
        log(f"webhook: delivery {delivery}: not a GitHub push payload: {e}")
        return 400, {"error": f"not a GitHub push payload: {e}"}
    if push is None:
        return 202, {"message": "nothing to build"}
    branch, after, urls = push
    fired, stale = [], []
    for resource, state in store.all():
        source = d.commit_trigger(resource)
        if not d.enabled(resource) or not source:
            continue
        repository = source["sourceRepository"]
        url = repository["repositoryUrl"]
        if _same_repo(url) not in urls or repository["branch"] != branch:
            continue
        try:
            head = heads(url, branch, launch.git_token(resource, str(store.home)))
        except AcrMagicError as e:  # the next poll tries again; the scheduler records trigger errors
            log(f"webhook: delivery {delivery}: task {resource['name']}: {e}")
            continue
        last = TriggerState.from_json(state).commit.last
        if head == last:
            if head != after:
                stale.append(resource["name"])
            continue
        # the fire only if polling (or another delivery) has not moved the state meanwhile
        if store.fire_commit(resource["name"], commit.KIND, commit.payload(url, branch, head), last, head):
            fired.append(resource["name"])
    note = f"; the branch has moved on, not rebuilt: {', '.join(stale)}" if stale else ""
    log(f"webhook: delivery {delivery}: push {after[:12]} to {branch}: fired {', '.join(fired) or 'no task'}{note}")
    return 200, {"fired": fired}


def _printable(value: str, limit: int = 80) -> str:
    """A header as it may appear in one log line: no control characters, bounded."""
    text = re.sub(r"[\x00-\x1f\x7f]", "?", str(value))
    return text if len(text) <= limit else text[:limit] + "..."


def app(store: TaskStore, secret: str, on_fire: Callable[[], None] = lambda: None,
        log: Callable[[str], None] = lambda line: None,
        heads: Callable[[str, str, str | None], str] = gitsource.head):
    """The Starlette application: POST / (or /webhook) takes GitHub deliveries."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request):
        from starlette.concurrency import run_in_threadpool

        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                log(f"webhook: rejected a delivery over {MAX_BODY >> 20} MiB")
                return JSONResponse({"error": f"payload over {MAX_BODY >> 20} MiB"}, status_code=413)
        # git ls-remote answers in its own time: not on the event loop
        status, answer = await run_in_threadpool(deliver, store, secret, dict(request.headers), body, log, heads)
        if answer.get("fired"):
            on_fire()
        return JSONResponse(answer, status_code=status)

    return Starlette(routes=[Route("/", receive, methods=["POST"]), Route("/webhook", receive, methods=["POST"])])


class WebhookServer:
    """uvicorn serving `app` on 127.0.0.1:port in a thread. The socket is bound here, before the thread
    starts, so a port in use is one line to the caller rather than a traceback in a thread that dies while
    the scheduler runs on without its receiver."""

    def __init__(self, application, port: int):
        import socket

        import uvicorn

        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"--webhook-port: {port!r} is not a port (1 to 65535)")
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(("127.0.0.1", port))
            self.socket.listen(128)
        except OSError as e:
            self.socket.close()
            raise UsageError(f"--webhook-port {port}: cannot listen on 127.0.0.1:{port}: {e.strerror}") from None
        self.server = uvicorn.Server(uvicorn.Config(application, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True,
                                       name="acrmagic-webhook")

    def start(self) -> None:
        self.thread.start()

    @property
    def port(self) -> int:
        return self.socket.getsockname()[1]

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(10)
        self.socket.close()
