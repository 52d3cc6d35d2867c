"""Commit triggers: the head of a branch, read with `git ls-remote`, and a checkout of one commit.

The access token never reaches argv, a URL, a log or an error: git gets it as an HTTP header through
its environment (GIT_CONFIG_COUNT/KEY/VALUE, git >= 2.31), which neither `ps` nor git's own messages
show, and every message git writes is scrubbed of it before acrmagic repeats a line of it.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ContextError, UsageError
from ..redact import Redactor

LS_REMOTE_TIMEOUT = 30  # seconds: a repository that does not answer is a trigger error, not a stuck scheduler
_AUTH_FAILED = re.compile(r"authentication failed|could not read username|403|401|terminal prompts disabled",
                          re.IGNORECASE)


def split_context(context: str) -> tuple[str, str | None, str]:
    """`repo#ref:subdir` -> (repository URL, branch or None, subdir), as Docker reads git contexts."""
    repo, _, fragment = context.partition("#")
    ref, _, subdir = fragment.partition(":")
    return repo, ref or None, subdir


def check_url(url: str) -> None:
    """A repository URL must not carry credentials: they would be stored and shown."""
    parts = urlsplit(url)
    if parts.password or (parts.username and parts.scheme in ("http", "https")):
        raise UsageError("--context: the repository URL carries credentials; give the token with "
                         "--git-access-token instead")


def provider(url: str) -> str:
    """ACR's sourceControlType, as az picks it."""
    return "Github" if "github.com" in url.lower() else "VisualStudioTeamService"


def _env(token: str | None) -> dict[str, str]:
    # git gets no managed-identity endpoint secret (set in this process while a token is fetched)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "MSI_"))}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
                "GCM_INTERACTIVE": "never"})
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        n = int(env.get("GIT_CONFIG_COUNT") or 0)  # add to the caller's own GIT_CONFIG_* entries
        env.update({"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "http.extraHeader",
                    f"GIT_CONFIG_VALUE_{n}": f"Authorization: Basic {basic}"})
    return env


def _git(args: list[str], url: str, token: str | None, cwd: str | None = None,
         timeout: float = LS_REMOTE_TIMEOUT) -> str:
    redact = Redactor([token] if token else [])
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=_env(token),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ContextError(f"repository {url} did not answer within {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [line for line in redact(proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
        last = lines[-1].removeprefix("fatal: ") if lines else f"git {args[0]} exited {proc.returncode}"
        if _AUTH_FAILED.search(" ".join(lines)):
            raise ContextError(f"repository {url}: authentication failed (check --git-access-token): {last}")
        raise ContextError(f"repository {url} cannot be read: {last}")
    return proc.stdout


def default_branch(url: str, token: str | None = None) -> str:
    """The branch the remote's HEAD points to, or its only branch (az would assume `master`; the
    remote knows better)."""
    out = _git(["ls-remote", "--symref", url], url, token)
    m = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", out, re.MULTILINE)
    heads = re.findall(r"^[0-9a-f]+\s+refs/heads/(\S+)$", out, re.MULTILINE)
    if m and m.group(1) in heads:
        return m.group(1)
    if len(heads) == 1:
        return heads[0]
    if not heads:
        raise ContextError(f"repository {url} has no branches yet: push a commit first")
    raise ContextError(f"repository {url}: name the branch to watch: {url}#BRANCH (it has {', '.join(heads[:5])})")


def head(url: str, branch: str, token: str | None = None) -> str:
    """The commit at the tip of `branch`; ContextError when the repository or the branch cannot be read."""
    out = _git(["ls-remote", "--heads", url, f"refs/heads/{branch}"], url, token)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    raise ContextError(f"repository {url} has no branch {branch!r}")


def checkout(url: str, commit: str, token: str | None = None) -> Path:
    """A temporary folder holding exactly `commit` (no .git, as BuildKit's git source); the caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix="acrmagic-task-"))
    try:
        _git(["init", "-q", str(folder)], url, None)
        _git(["fetch", "-q", "--depth", "1", url, commit], url, token, cwd=str(folder), timeout=600)
        _git(["checkout", "-q", "FETCH_HEAD"], url, None, cwd=str(folder))
        shutil.rmtree(folder / ".git")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
