"""Packing build contexts: .dockerignore with Docker's semantics, content digests, git URLs."""

from __future__ import annotations

import io
import tarfile

import pytest

from acrmagic.context import INLINE_DOCKERFILE, is_git_url, pack_folder
from acrmagic.errors import ContextError


def members(ctx) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(ctx.tar)) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_dockerignore_patterns(make_context):
    root = make_context({".dockerignore": "# comment\n**/*.pyc\nbuild\n!build/keep.txt\n", "Dockerfile": "FROM x\n",
                         "a.py": "", "pkg/b.pyc": "", "build/out.bin": "", "build/keep.txt": ""})
    assert members(pack_folder(root)) == [".dockerignore", "Dockerfile", "a.py", "build/keep.txt"]


def test_inline_dockerfile_and_digest_depends_on_content_not_time(make_context):
    root = make_context({"a.txt": "1"})
    first = pack_folder(root, dockerfile_text="FROM busybox\n")
    assert first.dockerfile == INLINE_DOCKERFILE and INLINE_DOCKERFILE in members(first)
    (root / "a.txt").touch()
    assert pack_folder(root, dockerfile_text="FROM busybox\n").source["digest"] == first.source["digest"]
    (root / "a.txt").write_text("2")
    assert pack_folder(root, dockerfile_text="FROM busybox\n").source["digest"] != first.source["digest"]


def test_dockerfile_in_a_subfolder(make_context):
    root = make_context({"docker/Dockerfile.prod": "FROM busybox\n"})
    ctx = pack_folder(root, dockerfile="docker/Dockerfile.prod")
    assert ctx.dockerfile == "docker/Dockerfile.prod" and ctx.dockerfile_text == "FROM busybox\n"


def test_missing_dockerfile_names_the_flag(make_context):
    with pytest.raises(ContextError, match="-f/--file: no Dockerfile at .*Dockerfile"):
        pack_folder(make_context({"a": ""}))


@pytest.mark.parametrize("url,git", [("https://github.com/org/repo.git#main:app", True),
                                     ("git@github.com:org/repo.git", True), ("file:///srv/repo.git", True),
                                     ("./model-server", False), ("https://example.invalid/ctx.tar.gz", False)])
def test_git_url_detection(url, git):
    assert is_git_url(url) is git
