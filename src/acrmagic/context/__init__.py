"""Build contexts: a folder or a git URL, packed into the tar the engine receives.

What goes in is what `docker build` (BuildKit) sends for the same folder: `.dockerignore` (or
`<Dockerfile>.dockerignore` beside the Dockerfile, which wins) applied with the docker SDK's matcher,
case-sensitive as Docker's, and nothing re-included behind the user's back: a `.dockerignore` that
excludes the Dockerfile or itself keeps them out of the context. BuildKit behind the Engine API
applies no `.dockerignore` to an uploaded tar, so acrmagic applies it here.

The one difference left: BuildKit reads the Dockerfile from inside the uploaded tar (the docker CLI
sends it beside the context through a session, which the Engine API's tar upload has no way to do).
A Dockerfile that is not part of the context (a cell body, a file the `.dockerignore` excludes, or
one outside the folder) therefore travels as `.acrmagic.Dockerfile`, the one file `COPY . /x` sees
that `docker build` would not send.

Local quick builds of a folder do without the tar: a BuildKit session (targets/local/session) serves
the folder and the Dockerfile apart, as the docker CLI does. The tar serves uploads, git contexts, task
steps and engines without sessions.

The tar is written once, to an unnamed temporary file (memory stays flat in the context size), while
the content digest is computed in the same pass (paths, modes and bytes, not times); the engine
streams it from there. `write_tar_gz` writes the same tar gzipped to any file object, for uploads.

One concept per module (the package holds the packing that joins them):

    ignore.py         `.dockerignore` rules: which file, its patterns, what they leave in (the docker SDK's matcher)
    locate.py         the context's folder and Dockerfile, and what of the folder a build sends (`select`)
    tarwriter.py      the tar and its content digest, in one pass
    parallel_gzip.py  gzip deflated in threads, for uploads
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .. import gitsource
from ..gitsource import is_git_url  # what a git context is: gitsource's to say
from .ignore import context_files, read_dockerignore
from .locate import INLINE_DOCKERFILE, Selection, context_folder, locate, select
from .parallel_gzip import GZIP_LEVEL, ParallelGzip
from .tarwriter import spool, write_tar

__all__ = ["BuildContext", "GZIP_LEVEL", "INLINE_DOCKERFILE", "Selection", "context_files", "context_folder",
           "is_git_url", "locate", "pack", "pack_folder", "pack_git", "pack_tree", "read_dockerignore",
           "select", "write_tar_gz"]


@dataclass
class BuildContext:
    """A packed context: the tar, where the Dockerfile is inside it, its text, and its source record."""

    file: BinaryIO  # the tar, in an unnamed temporary file
    dockerfile: str  # path of the Dockerfile inside the tar
    dockerfile_text: str
    source: dict = field(default_factory=dict)  # what the run store records about where this came from
    size: int = 0  # bytes of the (uncompressed) tar

    @property
    def tar(self) -> BinaryIO:
        """The tar, rewound: a file to stream (`engine.stream(..., body=ctx.tar)`) or `.read()` whole."""
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        self.file.close()


def _folder_context(sel: Selection, file: BinaryIO, digest: str, size: int) -> BuildContext:
    return BuildContext(file=file, dockerfile=sel.dockerfile, dockerfile_text=sel.dockerfile_text, size=size,
                        source={"type": "folder", "path": str(sel.root), "digest": digest})


def pack_folder(folder: str | os.PathLike, dockerfile_text: str | None = None,
                dockerfile: str | None = None) -> BuildContext:
    """Pack a folder. The Dockerfile is `dockerfile_text` (a cell body) or the file `dockerfile`
    (relative to the folder, default ``Dockerfile``)."""
    sel = select(folder, dockerfile_text, dockerfile)
    tar, digest, size = spool(sel.root, sel.files, sel.extra)
    return _folder_context(sel, tar, digest, size)


def pack_tree(folder: str | os.PathLike) -> tuple[BinaryIO, str]:
    """A whole folder (less what its .dockerignore excludes) as a tar in a temporary file, rewound
    (stream it, e.g. to `put_archive`), and its content digest."""
    root = context_folder(folder)
    tar, digest, _ = spool(root, context_files(root), {})
    return tar, digest


def write_tar_gz(out: BinaryIO, root: Path, files: list[str], extra: dict[str, bytes], *,
                 level: int = GZIP_LEVEL, threads: int | None = None) -> tuple[str, int]:
    """The tar of `files` under `root` plus `extra` members, gzipped to `out` as it is written (in
    threads); (content digest, uncompressed size)."""
    gz = ParallelGzip(out, level=level, threads=threads)
    try:
        digest, size = write_tar(gz, root, files, extra)
        gz.finish()
    finally:
        gz.pool.shutdown(cancel_futures=True)
    return digest, size


def pack_git(url: str, dockerfile_text: str | None = None, dockerfile: str | None = None) -> BuildContext:
    """Fetch `url` (``repo#ref:subdir`` as Docker reads it) at depth 1 and pack it."""
    import shutil
    import tempfile

    repo, ref, subdir = gitsource.split_context(url)
    with tempfile.TemporaryDirectory(prefix="acrmagic-git-") as tmp:
        gitsource.run(["init", "-q"], [tmp], repo)
        commit = gitsource.fetch(repo, ref or "HEAD", Path(tmp))
        folder = gitsource.subfolder(Path(tmp), subdir, f"--context: {url}")
        shutil.rmtree(Path(tmp) / ".git")  # as BuildKit's git source: the context holds no .git
        ctx = pack_folder(folder, dockerfile_text, dockerfile)  # the tar is a file of its own: the folder can go
    ctx.source = {"type": "git", "url": repo, "ref": ref or "HEAD", "subdir": subdir, "commit": commit,
                  "digest": ctx.source["digest"]}
    return ctx


def pack(context: str, dockerfile_text: str | None = None, dockerfile: str | None = None) -> BuildContext:
    if is_git_url(context):
        return pack_git(context, dockerfile_text, dockerfile)
    return pack_folder(context, dockerfile_text, dockerfile)
