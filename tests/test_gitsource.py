"""Commit triggers' git side: branch heads with ls-remote, checkouts of one commit, and the token kept
out of argv, URLs and messages. Real bare repositories in a temporary folder."""

from __future__ import annotations

import subprocess

import pytest

from acrmagic.errors import ContextError, UsageError
from acrmagic import gitsource

GIT = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]


def make_repo(tmp_path, files: dict[str, str], branch: str = "main"):
    bare, work = tmp_path / "repo.git", tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    subprocess.run(["git", "init", "-q", "-b", branch, str(work)], check=True)
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    subprocess.run([*GIT, "-C", str(work), "add", "."], check=True)
    subprocess.run([*GIT, "-C", str(work), "commit", "-qm", "first"], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", str(bare), branch], check=True, capture_output=True)
    return f"file://{bare}", work


def test_head_default_branch_and_checkout(tmp_path):
    url, work = make_repo(tmp_path, {"app/Dockerfile": "FROM busybox\n"})
    sha = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert gitsource.default_branch(url) == "main"  # the bare repo's HEAD names master; its only branch is main
    assert gitsource.head(url, "main") == sha
    folder = gitsource.checkout(url, sha)
    try:
        assert (folder / "app" / "Dockerfile").read_text() == "FROM busybox\n"
        assert not (folder / ".git").exists()
    finally:
        subprocess.run(["rm", "-rf", str(folder)])
    with pytest.raises(ContextError, match="has no branch 'nope'"):
        gitsource.head(url, "nope")


def test_unreachable_repository_is_one_line(tmp_path):
    with pytest.raises(ContextError, match=r"^repository file://\S+ cannot be read: no git repository there$") as e:
        gitsource.head(f"file://{tmp_path}/missing.git", "main")
    assert "\n" not in str(e.value)


def test_token_travels_in_the_environment_only(tmp_path, monkeypatch):
    seen = {}
    real_run = subprocess.run

    def spy(args, **kwargs):
        seen["argv"], seen["env"] = args, kwargs.get("env", {})
        return real_run(args, **kwargs)
    monkeypatch.setattr(subprocess, "run", spy)  # gitsource imports subprocess where it runs git
    token = "ghp_TOPSECRETTOKEN"
    with pytest.raises(ContextError) as e:  # nothing listens there: git fails, and says so without the token
        gitsource.head("http://127.0.0.1:9/org/repo.git", "main", token)
    assert token not in " ".join(seen["argv"]) and token not in str(e.value)
    headers = [v for k, v in seen["env"].items() if k.startswith("GIT_CONFIG_VALUE_")]
    assert headers and headers[0].startswith("Authorization: Basic ")
    assert seen["env"]["GIT_TERMINAL_PROMPT"] == "0"


def test_urls_with_credentials_are_refused():
    with pytest.raises(UsageError, match="carries credentials"):
        gitsource.check_url("https://me:ghp_x@github.com/org/repo.git")
    gitsource.check_url("https://github.com/org/repo.git")
    gitsource.check_url("ssh://git@github.com/org/repo.git")  # a user name is how ssh URLs work
    assert gitsource.provider("https://github.com/org/repo.git") == "Github"
    assert gitsource.split_context("https://h/r.git#dev:sub/dir") == ("https://h/r.git", "dev", "sub/dir")


def test_a_bad_token_is_an_authentication_error_without_the_token():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuse(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/org/repo.git"
        with pytest.raises(ContextError, match="authentication failed \\(check --git-access-token\\)") as e:
            gitsource.head(url, "main", "ghp_BADTOKEN")
        assert "ghp_BADTOKEN" not in str(e.value) and "\n" not in str(e.value)
    finally:
        server.shutdown()


def _repo(tmp_path):
    url, work = make_repo(tmp_path, {"Dockerfile": "FROM busybox\n"})
    return url, gitsource.head(url, "main")


# -- data never becomes an option ------------------------------------------------------------------------------
@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a command from the data ran"


def test_a_commit_id_is_a_full_hex_sha(tmp_path, marker):
    url, sha = _repo(tmp_path)
    for bad in (f"--upload-pack=touch {marker}", "-" + sha[1:], sha[:12], sha + "\n", "HEAD", "main", "", None, 5):
        with pytest.raises(UsageError, match="not a full hex commit ID"):
            gitsource.checkout(url, bad)
    assert gitsource.check_commit(sha.upper()) == sha


def test_branches_and_urls_that_read_as_options_are_refused(tmp_path, marker):
    url, _ = _repo(tmp_path)
    option = f"--upload-pack=touch {marker}"
    for branch in (option, "-x", "a..b", "a b", "a~1", "x.lock", "a//b", ".hidden", "@", "a@{1}", "tab\tbranch"):
        with pytest.raises(UsageError, match="not a valid branch name"):
            gitsource.head(url, branch)
    for bad_url in (option, f"ext::sh -c touch% {marker}", "file:// x", "https://", "ftp://host/repo.git",
                    "-oProxyCommand=touch@host:repo", "repo with space.git"):
        with pytest.raises(UsageError):
            gitsource.head(bad_url, "main")
    # a quick build's git context: the ref and the subdir are data too
    from acrmagic.context import pack

    for context in (f"{url}#{option}", f"{url}#main:../..", f"{url}#main:/etc"):
        with pytest.raises(UsageError):
            pack(context)


def test_a_context_that_is_not_a_repository_says_so(tmp_path):
    from acrmagic.context import pack

    (tmp_path / "plain").mkdir()
    with pytest.raises(ContextError, match=r"cannot be read: no git repository there$"):
        pack(f"file://{tmp_path}/plain#main")


def test_git_speaks_only_the_allowed_protocols(tmp_path, marker):
    env = gitsource.environment()
    assert env["GIT_ALLOW_PROTOCOL"] == "https:http:ssh:git:file"
    # even past check_url, git itself refuses the command transport
    with pytest.raises(ContextError):
        gitsource.run(["ls-remote"], [f"ext::sh -c touch% {marker}"], "ext")
