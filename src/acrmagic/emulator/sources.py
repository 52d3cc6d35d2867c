"""Where a run's files come from on the service side: an upload of the caller's (a `sourceLocation`
from listBuildSourceUploadUrl), a git repository (`URL[#REF][:FOLDER]`, as ACR reads a context), an
OCI artifact (`oci://`: accepted, not pulled: the emulator is offline), or nothing (`/dev/null`, a
contextless task).

ACR fetches git contexts from the network. The emulator is offline: a remote repository cannot be
fetched, so such a run is accepted and then fails with one line saying so. Local git repositories
(`file://...`) and host folders stand in for GitHub, but only under the folders the emulator was
started with (`--context-root`): a token holder must not build from `/etc`.

Git runs with the data after `--`, refs and commits checked first, and a token only in the
environment (never in argv).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import ArmError
from ..errors import SourceUnavailable as SourceError
from .arm import bad_request

NULL_CONTEXT = "/dev/null"
_REMOTE = re.compile(r"^(https?|ssh|git|oci)://|^git@", re.I)
_OCI = re.compile(r"^oci://", re.I)
_FILE = re.compile(r"^file://", re.I)
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_GIT_TIMEOUT = 300


@dataclass
class GitContext:
    url: str
    ref: str | None
    folder: str


def is_remote(context: str) -> bool:
    return bool(_REMOTE.match(context))


def split_git(context: str) -> GitContext:
    """`URL[#REF[:FOLDER]]` as ACR reads a git context; a plain `https://github.com/org/repo` is a git
    context too (ACR and az treat it as one)."""
    url, _, fragment = context.partition("#")
    ref, _, folder = fragment.partition(":")
    return GitContext(url, ref or None, folder.strip("/"))


def is_git(context: str) -> bool:
    return is_remote(context) or bool(_FILE.match(context))


@dataclass
class ContextPolicy:
    """Which host folders a context may name (the emulator's `--context-root` folders)."""

    roots: list[Path] = field(default_factory=list)

    def allows(self, path: Path) -> bool:
        real = Path(os.path.realpath(path))
        return any(real == root or root in real.parents for root in (Path(os.path.realpath(r)) for r in self.roots))

    def check(self, context: object, target: str = "contextPath") -> None:
        """ArmError(400) for a context this emulator will not build from."""
        if context is None or context == NULL_CONTEXT:
            return
        if not isinstance(context, str) or not context.strip() or len(context) > 2048 or "\n" in context:
            raise bad_request(f"{target} must be a repository URL or {NULL_CONTEXT}.", target=target)
        if _OCI.match(context):
            return  # an artifact reference; pulled when a run starts
        if is_remote(context):
            git = split_git(context)
            _check_ref(git.ref, target)
            return
        if _FILE.match(context):
            git = split_git(context)
            _check_ref(git.ref, target)
            path = Path(unquote(urlparse(git.url).path))
        else:
            path = Path(context)
            if not path.is_absolute():
                raise bad_request(f"The context '{context}' is not a repository URL, an uploaded source or "
                                  f"{NULL_CONTEXT}.", "InvalidContextPath", target=target)
        if not self.allows(path):
            raise bad_request(f"The context '{context}' is a folder on the emulator's host outside its context "
                              f"roots: the emulator builds only uploads, repository URLs and folders under "
                              f"--context-root.", "InvalidContextPath", target=target)


def _check_ref(ref: str | None, target: str) -> None:
    if ref is not None and (not _REF.match(ref) or ".." in ref):
        raise bad_request(f"The git reference '{ref}' in {target} is not a branch, tag or commit.", target=target)


@dataclass
class Checkout:
    folder: Path
    commit: str | None = None
    root: Path | None = None   # what to remove afterwards (None: a folder of the user's, left alone)

    def close(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _git_env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "IDENTITY_", "MSI_"))}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false", GIT_CONFIG_NOSYSTEM="1")
    if token:  # an Authorization header through git's environment config: never on a command line
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
    return env


def _git(args: list[str], token: str | None, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, env=_git_env(token), cwd=cwd,
                              timeout=_GIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {_GIT_TIMEOUT}s") from None
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise SourceError(lines[-1] if lines else f"git {args[0]} failed")
    return proc.stdout


def head(url: str, ref: str | None, token: str | None = None) -> str:
    """The commit `ref` (default: the remote HEAD) names now."""
    out = _git(["ls-remote", "--", url, ref or "HEAD"], token)
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if _COMMIT.match(sha) and (ref is None or name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}")):
            return sha
    raise SourceError(f"no branch or tag '{ref or 'HEAD'}' in {url}")


def fetch(context: str | None, policy: ContextPolicy, token: str | None = None, commit: str | None = None) -> Checkout:
    """The files of a task's context for one run (a git context at `commit`, default its ref's head)."""
    if context is None or context == NULL_CONTEXT:  # a contextless task runs in an empty folder
        return _empty()
    try:
        policy.check(context)
    except ArmError as e:
        raise SourceError(e.message) from None
    if _OCI.match(context):
        raise SourceError(f"the emulator works offline and does not pull OCI artifact contexts ({context})")
    if not is_git(context):
        folder = Path(context)
        if not folder.is_dir():
            raise SourceError(f"the context folder {context} does not exist")
        return Checkout(folder)
    git = split_git(context)
    offline = (f"the emulator works offline and cannot fetch {git.url}; use a local repository (file://) under "
               f"--context-root instead") if is_remote(context) else None
    if commit is not None and not _COMMIT.match(commit):
        raise SourceError(f"'{commit}' is not a commit id")
    try:
        commit = commit or head(git.url, git.ref, token)
        root = Path(tempfile.mkdtemp(prefix="acrmagic-emulator-git-"))
        try:
            _git(["init", "--quiet", str(root)], None)
            _git(["fetch", "--quiet", "--depth", "1", "--", git.url, commit], token, cwd=root)
            _git(["checkout", "--quiet", "--detach", commit], None, cwd=root)
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
    except SourceError as e:
        raise SourceError(offline or f"cannot fetch {git.url}: {e}") from None
    folder = root / git.folder if git.folder else root
    if not folder.is_dir():
        shutil.rmtree(root, ignore_errors=True)
        raise SourceError(f"no folder '{git.folder}' in {git.url} at {commit[:12]}")
    return Checkout(folder, commit, root)


def _empty() -> Checkout:
    root = Path(tempfile.mkdtemp(prefix="acrmagic-emulator-empty-"))
    return Checkout(root, root=root)
