"""Packing build contexts (the package: pack_folder, pack_tree, pack): what goes in is what
`docker build` sends (checked against `docker build` itself), git URLs. The rules, the Dockerfile's
place, the tar and the gzip have their own files: test_context_ignore, _locate, _tarwriter, _parallel_gzip."""

from __future__ import annotations

import os
import subprocess
import tarfile
import uuid

import pytest

import acrmagic
from acrmagic.context import is_git_url, pack_folder, pack_tree
from acrmagic.errors import ContextError
from conftest import docker_build, run_in_image


def members(ctx) -> list[str]:
    with tarfile.open(fileobj=ctx.tar) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_a_tree_is_the_folder_less_its_ignored_files_as_pack_folder_packs_it(make_context, tmp_path):
    root = make_context({"Dockerfile": "FROM busybox\n", ".dockerignore": "*.tmp\n", "a": "1", "b.tmp": ""})
    tree, digest = pack_tree(root)
    with tarfile.open(fileobj=tree) as tar:
        assert sorted(m.name for m in tar.getmembers()) == [".dockerignore", "Dockerfile", "a"]
    assert digest == pack_folder(root).source["digest"]  # the Dockerfile is part of it: the same tar
    with pytest.raises(ContextError, match="--context: no such folder"):
        pack_tree(tmp_path / "nowhere")


@pytest.mark.parametrize("url,git", [("https://github.com/org/repo.git#main:app", True),
                                     ("git@github.com:org/repo.git", True), ("file:///srv/repo.git", True),
                                     ("./model-server", False), ("https://example.invalid/ctx.tar.gz", False)])
def test_git_url_detection(url, git):
    assert is_git_url(url) is git


# -- the same folders through `docker build` and through acrmagic --------------------------------------------------

def list_files(repo: str) -> str:
    """A Dockerfile that lists what the context held; the repository name marks its RUN layer (clean-up)."""
    return f"FROM busybox\nCOPY . /ctx\nRUN find /ctx | sort > /list # {repo}\n"
CASES = {
    "double-star-then-re-include": {".dockerignore": "**\n!keep/**\n", "keep/a.txt": "", "other/b.txt": "", "c": ""},
    "re-include-in-excluded-dir": {".dockerignore": "build\n!build/keep.txt\n*.pyc\n", "build/keep.txt": "",
                                   "build/out.bin": "", "x.pyc": "", "pkg/y.pyc": "", "a.py": ""},
    "excluded-dockerfile": {".dockerignore": "Dockerfile\n", "a.txt": ""},
    "excluded-dockerignore": {".dockerignore": ".dockerignore\n", "a.txt": ""},
    "nested-dirs": {".dockerignore": "**/node_modules\n**/*.log\n*/tmp\n", "a/node_modules/x.js": "", "a/b/c.log": "",
                    "a/b/d.txt": "", "e.log": "", "x/tmp/f": "", "x/y/tmp/g": ""},
    "trailing-and-leading-slash": {".dockerignore": "build/\n/dist\n./docs\nc/../e\n", "build/a": "", "dist/b": "",
                                   "src/build/c": "", "docs/d": "", "e": ""},
    "symlinks": {".dockerignore": "linkdir/x\n", "real/x": "", "@linkdir": "real", "@linkfile": "real/x",
                 "@dangling": "nowhere"},
    "dir-re-include": {".dockerignore": "docs\n!docs/keep\n", "docs/keep/a": "", "docs/drop/b": "", "docs/c": ""},
    "case-and-comments": {".dockerignore": "*.LOG\n  #x\n# y\n", "a.log": "", "B.LOG": "", "#x": "", "y": ""},
    "dockerfile-dockerignore": {".dockerignore": "b\n", "Dockerfile.dockerignore": "a\n", "a": "", "b": ""},
    "deep-re-include": {".dockerignore": "a\n!a/b/c/keep\n", "a/b/c/keep": "", "a/b/c/drop": "", "a/x": "", "ab": ""},
    "glob-classes": {".dockerignore": "file?.txt\n[ab].md\n**/*.tmp\n", "file1.txt": "", "file10.txt": "", "a.md": "",
                     "c.md": "", "d/e/f.tmp": "", "g.tmp": ""},
    "re-exclude-after-include": {".dockerignore": "*\n!src\nsrc/*.log\n", "src/a.py": "", "src/b.log": "", "c": ""},
    "escaped-characters": {".dockerignore": "\\#x\nlit\\*\n", "#x": "", "lit*": "", "litter": "", "y": ""},
}


def _make(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name.lstrip("@")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(text, path) if name.startswith("@") else path.write_text(text)


def _listing(engine, tag: str) -> list[str]:
    try:
        return run_in_image(engine, tag, "cat", "/list").splitlines()
    finally:
        engine.images.remove(tag, force=True)  # the images only carried the listing


def _docker_listing(engine, root, tag: str, stdin_dockerfile: str | None = None) -> list[str]:
    docker_build("-q", "--network", "host", "-t", tag, *(["-f", "-"] if stdin_dockerfile else []), str(root),
                 stdin=(stdin_dockerfile or "").encode())
    return _listing(engine, tag)


def _acrmagic_listing(engine, root, repo: str, dockerfile_text: str | None = None) -> list[str]:
    acrmagic.build(dockerfile_text, context=str(root), image=f"{repo}:1", push=False, logs=False)
    return _listing(engine, f"localhost:5000/{repo}:1")


@pytest.mark.engine
@pytest.mark.parametrize("case", sorted(CASES))
def test_context_is_what_docker_build_sends(case, tmp_path, engine, own_build_cache):
    root = tmp_path / "ctx"
    root.mkdir()
    _make(root, CASES[case])
    repo = f"ctxcmp-{uuid.uuid4().hex[:8]}"
    own_build_cache.append(f"{repo}:docker")
    (root / "Dockerfile").write_text(list_files(repo))
    docker = _docker_listing(engine, root, f"{repo}:docker")
    assert _acrmagic_listing(engine, root, repo) == docker  # the Dockerfile travels apart, as docker's


@pytest.mark.engine
def test_inline_dockerfile_context_is_what_docker_build_f_minus_sends(tmp_path, engine, own_build_cache):
    root = tmp_path / "ctx"
    root.mkdir()
    _make(root, {".dockerignore": "*.tmp\n", "a": "", "b.tmp": "", "sub/c": ""})
    repo = f"ctxcmp-{uuid.uuid4().hex[:8]}"
    own_build_cache.append(f"{repo}:docker")
    docker = _docker_listing(engine, root, f"{repo}:docker", stdin_dockerfile=list_files(repo))
    assert _acrmagic_listing(engine, root, repo, list_files(repo)) == docker


# -- the rest of a build's path in these modules: base image digests (registry.py), imports ------------------------

@pytest.mark.engine
def test_manifest_digest_reads_the_registry_as_it_answers():
    from acrmagic.errors import RegistryError
    from acrmagic.registry import manifest_digest
    from conftest import registry_digest

    assert manifest_digest("localhost:5001", "library/busybox", "latest") == registry_digest(
        "library/busybox", "latest", "localhost:5001")
    assert manifest_digest("localhost:5001", "library/no-such-image", "latest") is None
    with pytest.raises(OSError):  # callers skip a registry that does not answer
        manifest_digest("localhost:1", "library/busybox", "latest", timeout=2)
    assert issubclass(RegistryError, OSError)


@pytest.mark.engine
def test_a_build_from_the_command_line_imports_neither_requests_nor_the_docker_sdk(make_context, own_build_cache):
    """`acrmagic build` starts a fresh process each time: what it imports, every build pays."""
    import json
    import sys

    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo imports\n"})
    code = ("import json, sys\nfrom acrmagic import cli\n"
            f"code = cli.main(['build', '--no-push', '--no-logs', {str(ctx)!r}])\n"
            "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('requests', 'urllib3', 'docker'))]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.splitlines()[-1]) == [0, []]


@pytest.mark.engine
def test_dockerfile_in_a_subfolder_with_its_own_dockerignore_is_what_docker_build_sends(tmp_path, engine,
                                                                                       own_build_cache):
    root = tmp_path / "ctx"
    root.mkdir()
    repo = f"ctxcmp-{uuid.uuid4().hex[:8]}"
    own_build_cache.append(f"{repo}:docker")
    _make(root, {".dockerignore": "a\n", "docker/app.Dockerfile": list_files(repo),
                 "docker/app.Dockerfile.dockerignore": "b\ndocker\n", "a": "", "b": "", "c/d": ""})
    docker_build("-q", "--network", "host", "-t", f"{repo}:docker", "-f", str(root / "docker/app.Dockerfile"), str(root))
    docker = _listing(engine, f"{repo}:docker")
    acrmagic.build(context=str(root), file="docker/app.Dockerfile", image=f"{repo}:1", push=False, logs=False)
    assert _listing(engine, f"localhost:5000/{repo}:1") == docker
    assert "/ctx/a" in docker and "/ctx/b" not in docker  # the Dockerfile's own ignore file won
