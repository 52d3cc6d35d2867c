"""Packing build contexts: Docker's context rules (checked against `docker build` itself), content
digests, memory flat in the context size, the gzip packer, git URLs."""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import tarfile
import tracemalloc
import uuid

import pytest

import acrmagic
from acrmagic.context import INLINE_DOCKERFILE, is_git_url, pack_folder, pack_gzip, pack_tree, read_dockerignore
from acrmagic.errors import ContextError
from conftest import docker_build, run_in_image


def members(ctx) -> list[str]:
    with tarfile.open(fileobj=ctx.tar) as tar:
        return sorted(m.name for m in tar.getmembers() if m.isfile())


def test_dockerignore_patterns(make_context):
    root = make_context({".dockerignore": "# comment\n**/*.pyc\nbuild\n!build/keep.txt\n", "Dockerfile": "FROM x\n",
                         "a.py": "", "pkg/b.pyc": "", "build/out.bin": "", "build/keep.txt": ""})
    assert members(pack_folder(root)) == [".dockerignore", "Dockerfile", "a.py", "build/keep.txt"]


def test_an_excluded_dockerfile_is_read_but_not_part_of_the_context(make_context):
    root = make_context({".dockerignore": "Dockerfile\n", "Dockerfile": "FROM busybox\n", "a": ""})
    ctx = pack_folder(root)
    assert ctx.dockerfile == INLINE_DOCKERFILE and ctx.dockerfile_text == "FROM busybox\n"
    assert members(ctx) == [INLINE_DOCKERFILE, ".dockerignore", "a"]  # `COPY Dockerfile` fails, as with docker


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


def test_symlinks_hardlinks_and_odd_names_are_packed_as_they_are(make_context):
    root = make_context({"Dockerfile": "FROM x\n", "real/x": "data", "caf\u00e9 \u2603.txt": "snow"})
    os.symlink("real", root / "linkdir")
    os.symlink("nowhere", root / "dangling")
    os.link(root / "real/x", root / "hard")
    with tarfile.open(fileobj=pack_folder(root).tar) as tar:
        kinds = {m.name: (m.type, m.linkname) for m in tar.getmembers()}
        assert tar.extractfile("real/x").read() == b"data"
    assert kinds["linkdir"] == (tarfile.SYMTYPE, "real") and kinds["dangling"] == (tarfile.SYMTYPE, "nowhere")
    assert kinds["hard"] == (tarfile.LNKTYPE, "real/x") or kinds["real/x"] == (tarfile.LNKTYPE, "hard")
    assert "caf\u00e9 \u2603.txt" in kinds


def test_packing_holds_no_copy_of_the_context_in_memory(tmp_path):
    """The tar goes to a temporary file, file by file in chunks: peak memory stays a few MiB."""
    root = tmp_path / "big"
    root.mkdir()
    rng = random.Random(1)
    for i in range(16):
        (root / f"f{i}").write_bytes(rng.randbytes(4 << 20))
    (root / "Dockerfile").write_text("FROM busybox\n")
    tracemalloc.start()
    try:
        ctx = pack_folder(root)
        tree, _ = pack_tree(root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert ctx.size > 64 << 20 and os.fstat(tree.fileno()).st_size == ctx.size  # the same tar, on disk
    assert peak < 8 << 20, f"packing a 64 MiB context peaked at {peak >> 20} MiB of Python memory"


def test_gzip_packer_writes_the_same_tar_and_digest(make_context):
    root = make_context({"Dockerfile": "FROM x\n", "text.txt": "hello\n" * 200_000,
                         ".dockerignore": "skip\n", "skip": ""})
    (root / "noise.bin").write_bytes(random.Random(2).randbytes(3 << 20))
    plain = pack_folder(root)
    out = io.BytesIO()
    packed = pack_gzip(root, out, threads=2)
    assert gzip.decompress(out.getvalue()) == plain.tar.read()
    assert packed.source["digest"] == plain.source["digest"] and packed.dockerfile == "Dockerfile"
    assert len(out.getvalue()) < (3 << 20) * 1.01 + 50_000  # the noise stored as it is, the text compressed


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
