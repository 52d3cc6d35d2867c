"""Build contexts: a folder or a git URL, packed into the tar the engine receives.

`.dockerignore` is applied here, with Docker's own matcher (the docker SDK's), because BuildKit
behind the Engine API does not apply it to an uploaded context. The source is recorded as the folder
plus a content digest (paths, modes and bytes, not times), or the git URL plus the commit it resolved to.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ContextError

#: where a Dockerfile given as text (a cell body) is placed in the context
INLINE_DOCKERFILE = ".acrmagic.Dockerfile"

_GIT_URL = re.compile(r"^(git@[^:]+:|git://|ssh://|(https?|file)://.+\.git(#|$)|(https?|file)://[^#]+#)")


def is_git_url(context: str) -> bool:
    return bool(_GIT_URL.match(context)) or context.startswith("github.com/")


@dataclass
class BuildContext:
    tar: bytes
    dockerfile: str  # path of the Dockerfile inside the tar
    dockerfile_text: str
    source: dict = field(default_factory=dict)  # what the run store records about where this came from


def read_dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.exists():
        return []
    lines = (line.strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _included(root: Path, patterns: list[str], dockerfile: str) -> set[str]:
    """Paths (files and folders, relative) that go into the context."""
    if not patterns:  # nothing to exclude: no matcher needed (and the docker SDK's import is not paid)
        out = set()
        for folder, dirs, files in os.walk(root):
            rel = os.path.relpath(folder, root)
            out.update(os.path.normpath(os.path.join(rel, n)) for n in dirs + files)
        return out
    from docker.utils.build import exclude_paths

    return exclude_paths(str(root), patterns, dockerfile=dockerfile)


def _pack(root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[bytes, str]:
    """A tar of `files` under `root` plus `extra` members, and the content digest of the whole."""
    digest = hashlib.sha256()
    buf = io.BytesIO()
    # GNU format, whole-second times: BuildKit does not recognise a PAX tar as a context
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in files:
            if rel in extra:
                continue
            full = root / rel
            info = tar.gettarinfo(str(full), arcname=rel)
            info.uid = info.gid = 0
            info.mtime = int(info.mtime)
            info.uname = info.gname = ""
            digest.update(f"{rel}\0{info.mode:o}\0{info.type!r}\0{info.linkname}\0".encode())
            if info.isfile():
                try:
                    with open(full, "rb") as f:
                        data = f.read()
                except OSError as e:
                    raise ContextError(f"cannot read {full} for the build context: {e.strerror}") from None
                digest.update(hashlib.sha256(data).digest())
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
        for name, data in sorted(extra.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            digest.update(f"{name}\0{info.mode:o}\0".encode() + hashlib.sha256(data).digest())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), "sha256:" + digest.hexdigest()


def pack_tree(folder: str | os.PathLike) -> tuple[bytes, str]:
    """A whole folder (less what its .dockerignore excludes) as a tar, and its content digest."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ContextError(f"--context: no such folder: {folder}")
    return _pack(root, sorted(_included(root, read_dockerignore(root), "Dockerfile")), {})


def pack_folder(folder: str | os.PathLike, dockerfile_text: str | None = None,
                dockerfile: str | None = None) -> BuildContext:
    """Pack a folder. The Dockerfile is `dockerfile_text` (a cell body) or the file `dockerfile`
    (relative to the folder, default ``Dockerfile``)."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ContextError(f"--context: no such folder: {folder}")
    extra: dict[str, bytes] = {}
    if dockerfile_text is not None:
        name = INLINE_DOCKERFILE
        extra[name] = dockerfile_text.encode()
    else:
        name = (dockerfile or "Dockerfile").replace(os.sep, "/")
        path = root / name if not os.path.isabs(name) else Path(name)
        if not path.is_file():
            raise ContextError(f"-f/--file: no Dockerfile at {path}")
        try:
            name = path.resolve().relative_to(root).as_posix()
        except ValueError:  # a Dockerfile outside the context is sent inside it, as docker does
            extra[INLINE_DOCKERFILE] = path.read_bytes()
            name = INLINE_DOCKERFILE
        dockerfile_text = path.read_text()
    files = sorted(_included(root, read_dockerignore(root), name))
    tar, digest = _pack(root, files, extra)
    return BuildContext(tar=tar, dockerfile=name, dockerfile_text=dockerfile_text,
                        source={"type": "folder", "path": str(root), "digest": digest})


def _git(*args: str, cwd: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if proc.returncode != 0:
        raise ContextError(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc.stdout.strip()


def pack_git(url: str, dockerfile_text: str | None = None, dockerfile: str | None = None) -> BuildContext:
    """Fetch `url` (``repo#ref:subdir`` as Docker reads it) at depth 1 and pack it."""
    repo, _, fragment = url.partition("#")
    ref, _, subdir = fragment.partition(":")
    with tempfile.TemporaryDirectory(prefix="acrmagic-git-") as tmp:
        _git("init", "-q", tmp)
        _git("fetch", "-q", "--depth", "1", repo, ref or "HEAD", cwd=tmp)
        _git("checkout", "-q", "FETCH_HEAD", cwd=tmp)
        commit = _git("rev-parse", "HEAD", cwd=tmp)
        folder = Path(tmp) / subdir if subdir else Path(tmp)
        if not folder.is_dir():
            raise ContextError(f"--context: {url}: no folder {subdir!r} in the repository")
        shutil.rmtree(Path(tmp) / ".git")  # as BuildKit's git source: the context holds no .git
        ctx = pack_folder(folder, dockerfile_text, dockerfile)
    ctx.source = {"type": "git", "url": repo, "ref": ref or "HEAD", "subdir": subdir, "commit": commit,
                  "digest": ctx.source["digest"]}
    return ctx


def pack(context: str, dockerfile_text: str | None = None, dockerfile: str | None = None) -> BuildContext:
    if is_git_url(context):
        return pack_git(context, dockerfile_text, dockerfile)
    return pack_folder(context, dockerfile_text, dockerfile)
