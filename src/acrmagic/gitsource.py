"""Git repositories as build sources: what a git context is, the names in it (URL, branch, commit)
checked as data, and the one way acrmagic runs git.

Everything that reaches git here may come from a user's file, a webhook or a remote's answer, so:
- a commit is a full hex SHA (SHA-1 or SHA-256), a branch passes git's own ref-name rules and never
  starts with `-`, a repository URL is a URL or scp-like address in an allowed protocol;
- every git command puts such data after `--`, so none of it can be read as an option
  (`--upload-pack=...` is a name that does not check, not a program to run);
- git may speak only https, http, ssh, git and file (GIT_ALLOW_PROTOCOL: no `ext::` command transport),
  never prompts, and gets an access token as an HTTP header through its environment
  (GIT_CONFIG_COUNT/KEY/VALUE, git >= 2.31), which neither `ps` nor git's own messages show; every line
  git writes is scrubbed of the token before acrmagic repeats it.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ContextError, UsageError, quoted
from .redact import Redactor

LS_REMOTE_TIMEOUT = 30  # seconds: a repository that does not answer is a trigger error, not a stuck scheduler
FETCH_TIMEOUT = 600
ALLOWED_PROTOCOLS = "https:http:ssh:git:file"

_GIT_URL = re.compile(r"^(git@[^:]+:|git://|ssh://|(https?|file)://[^/\s]*/\S+)")
#: a remote tarball (ACR's other URL context), not a repository
_TARBALL = re.compile(r"\.(tar\.gz|tgz|tar)([#?]|$)", re.I)
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._~-]+@[A-Za-z0-9.-]+:(?!//)[^\s]+$")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_AUTH_FAILED = re.compile(r"authentication failed|could not read username|403|401|terminal prompts disabled",
                          re.IGNORECASE)


# -- what a git context is -------------------------------------------------------------------------------------
def is_git_url(context: str) -> bool:
    """A repository URL: `git@host:`, `git://`, `ssh://`, or an http(s)/file URL with a path, as ACR and az
    read a context (a plain `https://github.com/org/repo` is one; a `.tar.gz` URL is a tarball)."""
    return (bool(_GIT_URL.match(context)) and not _TARBALL.search(context)) or context.startswith("github.com/")


def split_context(context: str) -> tuple[str, str | None, str]:
    """`repo#ref:subdir` -> (repository URL, branch or None, subdir), as Docker reads git contexts."""
    repo, _, fragment = context.partition("#")
    ref, _, subdir = fragment.partition(":")
    return repo, ref or None, subdir


def subfolder(root: Path, subdir: str, where: str) -> Path:
    """`root/subdir` of a checkout; a subdir that leaves the checkout (`..`, an absolute path, a link out)
    or does not exist is refused."""
    folder = (root / subdir).resolve() if subdir else root.resolve()
    if not folder.is_relative_to(root.resolve()):
        raise UsageError(f"{where}: the folder {subdir!r} is outside the repository")
    if not folder.is_dir():
        raise UsageError(f"{where}: no folder {subdir!r} in the repository")
    return folder


def provider(url: str) -> str:
    """ACR's sourceControlType, as az picks it."""
    return "Github" if "github.com" in url.lower() else "VisualStudioTeamService"


# -- names checked as data -------------------------------------------------------------------------------------
def check_url(url: str, what: str = "--context") -> str:
    """A repository URL git may be given: an allowed protocol (or scp-like `user@host:path`), nothing that
    reads as an option, no whitespace, and no credentials (they would be stored and shown)."""
    if not isinstance(url, str) or not url:
        raise UsageError(f"{what}: no repository URL")
    if url.startswith("-") or re.search(r"[\x00-\x20\x7f]", url):
        raise UsageError(f"{what}: {quoted(url)} is not a repository URL")
    parts = urlsplit(url)
    if parts.scheme:
        if parts.scheme not in ALLOWED_PROTOCOLS.split(":"):
            raise UsageError(f"{what}: {quoted(url)}: git contexts are https, http, ssh, git or file URLs")
        if not (parts.netloc or parts.scheme == "file") or not parts.path.strip("/"):
            raise UsageError(f"{what}: {quoted(url)} names no repository")
    elif not _SCP_LIKE.fullmatch(url) and not url.startswith("github.com/"):
        raise UsageError(f"{what}: {quoted(url)} is not a repository URL")
    if parts.password or (parts.username and parts.scheme in ("http", "https")):
        raise UsageError(f"{what}: the repository URL carries credentials; give the token with "
                         "--git-access-token instead")
    return url


def check_branch(name: str, what: str = "branch") -> str:
    """A branch name as `git check-ref-format --branch` takes it, and never an option."""
    if (not isinstance(name, str) or not name or name.startswith(("-", "/")) or name.endswith(("/", ".", ".lock"))
            or ".." in name or "//" in name or "@{" in name or name == "@" or _REF_FORBIDDEN.search(name)
            or any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))):
        raise UsageError(f"{what}: {quoted(name)} is not a valid branch name")
    return name


def check_commit(sha: str, what: str = "commit") -> str:
    """A full hex commit ID (40 or 64 digits), lower-cased; anything else is refused."""
    if isinstance(sha, str) and _COMMIT.fullmatch(sha.lower()):
        return sha.lower()
    raise UsageError(f"{what}: {quoted(sha)} is not a full hex commit ID")


# -- running git -----------------------------------------------------------------------------------------------
def environment(token: str | None = None) -> dict[str, str]:
    # git gets no managed-identity endpoint secret (set in this process while a token is fetched)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDENTITY_", "MSI_"))}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false", "SSH_ASKPASS": "/bin/false",
                "GCM_INTERACTIVE": "never", "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS})
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        n = int(env.get("GIT_CONFIG_COUNT") or 0)  # add to the caller's own GIT_CONFIG_* entries
        env.update({"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": "http.extraHeader",
                    f"GIT_CONFIG_VALUE_{n}": f"Authorization: Basic {basic}"})
    return env


def run(options: list[str], operands: list[str], url: str, token: str | None = None, cwd: str | None = None,
        timeout: float = LS_REMOTE_TIMEOUT) -> str:
    """`git OPTIONS -- OPERANDS`: operands (URLs, refs, commits, paths) can never be read as options."""
    import subprocess  # here, not at the top: every build imports this module, few run git

    redact = Redactor([token] if token else [])
    argv = ["git", *options, "--", *operands] if operands else ["git", *options]
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=environment(token),
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ContextError(f"repository {url} did not answer within {timeout:.0f}s") from None
    if proc.returncode != 0:
        lines = [line for line in redact(proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
        # git's own verdict ("fatal: ..."), not the advice lines after it
        verdict = next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[-1] if lines else "")
        last = verdict.removeprefix("fatal: ").removeprefix("error: ") or f"git {options[0]} exited {proc.returncode}"
        if _AUTH_FAILED.search(" ".join(lines)):
            raise ContextError(f"repository {url}: authentication failed (check --git-access-token): {last}")
        if re.search(r"not appear to be a git repository|not a git repository", " ".join(lines), re.IGNORECASE):
            raise ContextError(f"repository {url} cannot be read: no git repository there")
        raise ContextError(f"repository {url} cannot be read: {last}")
    return proc.stdout


def default_branch(url: str, token: str | None = None) -> str:
    """The branch the remote's HEAD points to, or its only branch (az would assume `master`; the
    remote knows better)."""
    check_url(url)
    out = run(["ls-remote", "--symref"], [url], url, token)
    m = re.search(r"^ref: refs/heads/(\S+)\s+HEAD$", out, re.MULTILINE)
    heads = re.findall(r"^[0-9a-f]+\s+refs/heads/(\S+)$", out, re.MULTILINE)
    if m and m.group(1) in heads:
        return check_branch(m.group(1), f"repository {url}: its default branch")
    if len(heads) == 1:
        return check_branch(heads[0], f"repository {url}: its only branch")
    if not heads:
        raise ContextError(f"repository {url} has no branches yet: push a commit first")
    raise ContextError(f"repository {url}: name the branch to watch: {url}#BRANCH (it has {', '.join(heads[:5])})")


def head(url: str, branch: str, token: str | None = None) -> str:
    """The commit at the tip of `branch`; ContextError when the repository or the branch cannot be read,
    or when the remote answers with something that is not a commit ID."""
    check_url(url)
    check_branch(branch)
    out = run(["ls-remote", "--heads"], [url, f"refs/heads/{branch}"], url, token)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            try:
                return check_commit(sha, f"repository {url}: the head of {branch}")
            except UsageError as e:
                raise ContextError(str(e)) from None
    raise ContextError(f"repository {url} has no branch {branch!r}")


def fetch(url: str, ref: str, folder: Path, token: str | None = None) -> str:
    """Fetch `ref` (a branch, a tag, a commit, or HEAD) of `url` at depth 1 into the empty repository at
    `folder` and check it out; returns the commit."""
    check_url(url)
    if ref != "HEAD" and not _COMMIT.fullmatch(ref.lower()):
        check_branch(ref, f"{url}: the ref")
    run(["fetch", "-q", "--depth", "1"], [url, ref], url, token, cwd=str(folder), timeout=FETCH_TIMEOUT)
    run(["checkout", "-q", "--detach", "FETCH_HEAD"], [], url, cwd=str(folder))
    return check_commit(run(["rev-parse", "--verify", "HEAD^{commit}"], [], url, cwd=str(folder)).strip())


def checkout(url: str, commit: str, token: str | None = None, parent: Path | None = None) -> Path:
    """A temporary folder (in `parent`, default the system's) holding exactly `commit` (no .git, as
    BuildKit's git source); the caller removes it."""
    import shutil
    import tempfile

    commit = check_commit(commit)
    folder = Path(tempfile.mkdtemp(prefix="acrmagic-task-", dir=parent))
    try:
        run(["init", "-q"], [str(folder)], url)
        fetch(url, commit, folder, token)
        shutil.rmtree(folder / ".git")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
