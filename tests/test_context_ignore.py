"""`.dockerignore` rules (context/ignore.py): which file, its patterns as Docker reads them, and the
docker SDK's matcher made case-sensitive and re-including nothing behind the user's back."""

from __future__ import annotations

import pytest

from acrmagic.context import INLINE_DOCKERFILE, pack_folder, read_dockerignore
from acrmagic.context.ignore import context_files, included, matcher
from test_context import members


def test_dockerignore_patterns(make_context):
    root = make_context({".dockerignore": "# comment\n**/*.pyc\nbuild\n!build/keep.txt\n", "Dockerfile": "FROM x\n",
                         "a.py": "", "pkg/b.pyc": "", "build/out.bin": "", "build/keep.txt": ""})
    assert members(pack_folder(root)) == [".dockerignore", "Dockerfile", "a.py", "build/keep.txt"]


def test_nothing_is_re_included_behind_the_users_back(make_context):
    root = make_context({".dockerignore": ".dockerignore\n*.md\n", "Dockerfile": "FROM busybox\n", "a.md": ""})
    assert members(pack_folder(root)) == ["Dockerfile"]
    root = make_context({".dockerignore": "**\n!src\n", "Dockerfile": "FROM busybox\n", "src/a": "", "b": ""})
    assert members(pack_folder(root)) == [INLINE_DOCKERFILE, "src/a"]


def test_patterns_are_case_sensitive_as_dockers(make_context):
    root = make_context({".dockerignore": "*.LOG\nREADME.md\n", "Dockerfile": "FROM x\n", "a.log": "", "B.LOG": "",
                         "readme.md": ""})
    assert members(pack_folder(root)) == [".dockerignore", "Dockerfile", "a.log", "readme.md"]


def test_dockerfile_dockerignore_beside_the_dockerfile_wins(make_context):
    root = make_context({".dockerignore": "b\n", "docker/app.Dockerfile": "FROM x\n",
                         "docker/app.Dockerfile.dockerignore": "a\n", "a": "", "b": ""})
    assert members(pack_folder(root, dockerfile="docker/app.Dockerfile")) == [
        ".dockerignore", "b", "docker/app.Dockerfile", "docker/app.Dockerfile.dockerignore"]


def test_ignore_file_read_as_docker_reads_it(make_context):
    root = make_context({".dockerignore": "\ufeffa\n  # not a comment\n# a comment\n\n  b  \n! c\n"})
    assert read_dockerignore(root) == ["a", "# not a comment", "b", "! c"]


def test_included_walks_the_folder_with_and_without_patterns(make_context):
    root = make_context({"a/b.txt": "", "a/c.log": "", "d": ""})
    assert included(root, []) == ["a", "a/b.txt", "a/c.log", "d"]
    assert included(root, ["**/*.log"]) == ["a", "a/b.txt", "d"]
    (root / ".dockerignore").write_text("a\n")
    assert context_files(root) == [".dockerignore", "d"]


@pytest.mark.parametrize("patterns, path, excluded", [
    (["*.log"], "a.log", True), (["*.log"], "d/a.log", False), (["**/*.log"], "d/e/a.log", True),
    (["d"], "d/e/f", True), (["d", "!d/e"], "d/e/f", False), (["*", "!src", "src/*.log"], "src/a.log", True),
    (["a?c"], "abc", True), (["a?c"], "a/c", False), (["[ab].md"], "b.md", True), (["x.LOG"], "x.log", False),
    (["\\#x"], "#x", True), (["**"], "anything/at/all", True), (["a/**/b"], "a/b", True),
])
def test_patterns_match_as_mobys_for_the_packer_and_the_session_alike(patterns, path, excluded):
    assert matcher(patterns).matches(path) is excluded


def test_a_folder_is_kept_only_when_a_re_include_names_something_inside_it():
    rules = matcher(["build", "!build/keep.txt", "docs"])
    assert rules.exclusions and rules.may_re_include_under("build") and not rules.may_re_include_under("docs")
    assert not rules.may_re_include_under("buil") and not matcher(["a"]).exclusions
