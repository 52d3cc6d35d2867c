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
streams it from there. `pack_gzip` writes the same tar gzipped to any file object, for uploads.
"""

from __future__ import annotations

import hashlib
import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from . import gitsource
from .errors import ContextError  # one line, whatever path it quotes
from .gitsource import is_git_url  # what a git context is: gitsource's to say
from .textfiles import decode

#: where a Dockerfile that is not part of the context (a cell body, excluded, outside) is placed in it
INLINE_DOCKERFILE = ".acrmagic.Dockerfile"
#: the gzip level of `pack_gzip`: zlib's default, several times faster than tarfile's 9 for little size
GZIP_LEVEL = 6

_CHUNK = 1 << 20  # bytes read (and written) at a time: large enough that Python's overhead vanishes


@dataclass
class BuildContext:
    """A packed context: the tar, where the Dockerfile is inside it, its text, and its source record."""

    file: BinaryIO | None  # the tar, in an unnamed temporary file (None: `pack_gzip` wrote it elsewhere)
    dockerfile: str  # path of the Dockerfile inside the tar
    dockerfile_text: str
    source: dict = field(default_factory=dict)  # what the run store records about where this came from
    size: int = 0  # bytes of the (uncompressed) tar

    @property
    def tar(self) -> BinaryIO:
        """The tar, rewound: a file to stream (`engine.stream(..., body=ctx.tar)`) or `.read()` whole."""
        if self.file is None:
            raise ValueError("this context was packed to a caller's file (pack_gzip)")
        self.file.seek(0)
        return self.file

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


# -- what goes in -----------------------------------------------------------------------------------------------

def _read_ignore_file(path: Path) -> list[str]:
    """Patterns of an ignore file, read as Docker reads it: a UTF-8 BOM dropped, `#` only at the very
    start of a line makes a comment, blank lines skipped, each pattern trimmed."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ContextError(f"cannot read {path}: {e.strerror}") from None
    text = decode(data, path.name)  # not UTF-8: one line naming the file, the line and the byte
    patterns = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        patterns.append(line.strip())
    return patterns


def read_dockerignore(root: Path, dockerfile: Path | None = None) -> list[str]:
    """The exclusion patterns for a context: `<Dockerfile>.dockerignore` beside the Dockerfile when it
    exists (as BuildKit reads it), else the context's `.dockerignore`, else none."""
    for candidate in ([Path(f"{dockerfile}.dockerignore")] if dockerfile else []) + [Path(root) / ".dockerignore"]:
        if candidate.is_file():
            return _read_ignore_file(candidate)
    return []


def _matcher(patterns: list[str]):
    """The docker SDK's matcher (Docker's semantics for `**`, `!`, parents), minus its two departures
    from Docker: it lower-cases names and patterns, and it always re-includes `.dockerignore`."""
    from docker.utils.build import Pattern, PatternMatcher
    from docker.utils.fnmatch import fnmatchcase

    class CaseSensitivePattern(Pattern):
        def match(self, filepath):
            return fnmatchcase(filepath, self.cleaned_pattern)

    matcher = PatternMatcher([])
    matcher.patterns = [p for p in map(CaseSensitivePattern, patterns) if p.dirs]
    return matcher


def _included(root: Path, patterns: list[str]) -> list[str]:
    """Paths (files, folders, links; relative, sorted) that go into the context."""
    try:
        if not patterns:  # nothing to exclude: no matcher needed (and the docker SDK's import is not paid)
            out = []
            for folder, dirs, files in os.walk(root, onerror=_raise):
                rel = os.path.relpath(folder, root)
                out.extend(os.path.normpath(os.path.join(rel, n)) for n in dirs + files)
            return sorted(out)
        return sorted(_matcher(patterns).walk(str(root)))
    except OSError as e:
        raise ContextError(f"cannot read {e.filename or root} for the build context: {e.strerror}") from None


def _raise(error: OSError):
    raise error


# -- writing the tar ----------------------------------------------------------------------------------------------

class _TarWriter:
    """Writes tar members to `out` (anything with `write`) and digests paths, modes and bytes on the way.

    GNU format, whole-second times, owner 0: BuildKit does not recognise a PAX tar as a context."""

    def __init__(self, out):
        self.out, self.size = out, 0
        self.digest = hashlib.sha256()
        self._buffer = memoryview(bytearray(_CHUNK))
        self._hardlinks: dict[tuple[int, int], str] = {}

    def _write(self, data) -> None:
        self.out.write(data)
        self.size += len(data)

    def _header(self, info: tarfile.TarInfo) -> None:
        import tarfile  # only packing pays this import
        self._write(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        import tarfile
        if size % tarfile.BLOCKSIZE:
            self._write(bytes(tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE))

    def add_path(self, root: Path, rel: str) -> None:
        import tarfile
        full = os.path.join(root, rel)
        try:
            st = os.lstat(full)
            info = self._info(full, rel, st)
        except OSError as e:
            raise ContextError(f"cannot read {full} for the build context: {e.strerror}") from None
        if info is None:  # a socket: Docker sends none either
            return
        self.digest.update(f"{rel}\0{info.mode:o}\0{info.type!r}\0{info.linkname}\0".encode("utf-8", "surrogateescape"))
        self._header(info)
        if info.type == tarfile.REGTYPE:
            self.digest.update(self._copy(full, info.size))

    def _info(self, full: str, rel: str, st: os.stat_result) -> tarfile.TarInfo | None:
        import tarfile
        info = tarfile.TarInfo(rel)
        info.mode, info.mtime = stat.S_IMODE(st.st_mode), int(st.st_mtime)
        kind = st.st_mode
        if stat.S_ISREG(kind):
            inode = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and inode in self._hardlinks:  # a second name of a file already in: a link
                info.type, info.linkname = tarfile.LNKTYPE, self._hardlinks[inode]
                return info
            if st.st_nlink > 1:
                self._hardlinks[inode] = rel
            info.type, info.size = tarfile.REGTYPE, st.st_size
        elif stat.S_ISDIR(kind):
            info.type = tarfile.DIRTYPE
        elif stat.S_ISLNK(kind):
            info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
        elif stat.S_ISFIFO(kind):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(kind) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return None
        return info

    def _copy(self, full: str, size: int) -> bytes:
        """Copy `size` bytes of a file into the tar; the sha256 of those bytes."""
        file_digest, left = hashlib.sha256(), size
        try:
            with open(full, "rb", buffering=0) as f:
                while left:
                    n = f.readinto(self._buffer[:min(left, _CHUNK)])
                    if not n:
                        raise ContextError(f"{full} shrank while it was packed for the build context")
                    chunk = self._buffer[:n]
                    file_digest.update(chunk)
                    self._write(chunk)
                    left -= n
        except OSError as e:
            raise ContextError(f"cannot read {full} for the build context: {e.strerror}") from None
        self._pad(size)
        return file_digest.digest()

    def add_bytes(self, name: str, data: bytes) -> None:
        import tarfile
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self.digest.update(f"{name}\0{info.mode:o}\0".encode() + hashlib.sha256(data).digest())
        self._header(info)
        self._write(data)
        self._pad(len(data))

    def close(self) -> str:
        """End the archive (as tarfile does: two zero blocks, padded to a whole record); the digest."""
        import tarfile
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._pad_record()
        return "sha256:" + self.digest.hexdigest()

    def _pad_record(self) -> None:
        import tarfile
        if self.size % tarfile.RECORDSIZE:
            self._write(bytes(tarfile.RECORDSIZE - self.size % tarfile.RECORDSIZE))


def _write_tar(out, root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[str, int]:
    """The tar of `files` under `root` plus `extra` members, written to `out`; (digest, size)."""
    writer = _TarWriter(out)
    for rel in files:
        if rel not in extra:
            writer.add_path(root, rel)
    for name, data in sorted(extra.items()):
        writer.add_bytes(name, data)
    return writer.close(), writer.size


def _spool(root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[BinaryIO, str, int]:
    """The tar in an unnamed temporary file (on disk, in the page cache: not in this process's memory)."""
    out = _temporary_file()
    try:
        digest, size = _write_tar(out, root, files, extra)
        out.flush()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, digest, size


def _temporary_file() -> BinaryIO:
    """An unnamed file on disk: Linux's O_TMPFILE where it works (no name ever exists, and the
    command line does not pay for importing tempfile), else the tempfile module's."""
    if hasattr(os, "O_TMPFILE"):
        try:
            return open(os.open(os.environ.get("TMPDIR") or "/tmp", os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")
        except OSError:
            pass  # a file system without O_TMPFILE
    import tempfile

    return tempfile.TemporaryFile(prefix="acrmagic-context-")


# -- the context of a build ---------------------------------------------------------------------------------------

@dataclass
class _Selection:
    root: Path
    files: list[str]
    extra: dict[str, bytes]
    dockerfile: str
    dockerfile_text: str


def locate(folder: str | os.PathLike, dockerfile_text: str | None, dockerfile: str | None
           ) -> tuple[Path, Path | None, str, bytes]:
    """The context's folder, the Dockerfile's path (None: `dockerfile_text`, a cell body, is it), its
    text and bytes; a missing folder or Dockerfile, or one not in UTF-8, is one line naming it."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ContextError(f"--context: no such folder: {folder}")
    if dockerfile_text is not None:
        return root, None, dockerfile_text, dockerfile_text.encode("utf-8", "replace")
    given = (dockerfile or "Dockerfile").replace(os.sep, "/")
    path = Path(given) if os.path.isabs(given) else root / given
    if not path.is_file():
        raise ContextError(f"-f/--file: no Dockerfile at {path}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ContextError(f"-f/--file: cannot read {path}: {e.strerror}") from None
    return root, path, decode(data, given), data  # BuildKit would misread another encoding: refused here


def _select(folder: str | os.PathLike, dockerfile_text: str | None, dockerfile: str | None) -> _Selection:
    """What a build of `folder` sends: the included paths, and where the Dockerfile goes."""
    root, path, text, data = locate(folder, dockerfile_text, dockerfile)
    files = _included(root, read_dockerignore(root, path))
    if path is None:
        return _Selection(root, files, {INLINE_DOCKERFILE: data}, INLINE_DOCKERFILE, text)
    try:
        name = path.resolve().relative_to(root).as_posix()
    except ValueError:  # outside the folder: sent inside the context, as docker does
        name = None
    if name is None or name not in files:  # outside, or excluded by .dockerignore: not part of the context
        return _Selection(root, files, {INLINE_DOCKERFILE: data}, INLINE_DOCKERFILE, text)
    return _Selection(root, files, {}, name, text)


def pack_folder(folder: str | os.PathLike, dockerfile_text: str | None = None,
                dockerfile: str | None = None) -> BuildContext:
    """Pack a folder. The Dockerfile is `dockerfile_text` (a cell body) or the file `dockerfile`
    (relative to the folder, default ``Dockerfile``)."""
    sel = _select(folder, dockerfile_text, dockerfile)
    tar, digest, size = _spool(sel.root, sel.files, sel.extra)
    return BuildContext(file=tar, dockerfile=sel.dockerfile, dockerfile_text=sel.dockerfile_text, size=size,
                        source={"type": "folder", "path": str(sel.root), "digest": digest})


def pack_tree(folder: str | os.PathLike) -> tuple[BinaryIO, str]:
    """A whole folder (less what its .dockerignore excludes) as a tar in a temporary file, rewound
    (stream it, e.g. to `put_archive`), and its content digest."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ContextError(f"--context: no such folder: {folder}")
    tar, digest, _ = _spool(root, _included(root, read_dockerignore(root)), {})
    return tar, digest


def pack_gzip(folder: str | os.PathLike, out: BinaryIO, dockerfile_text: str | None = None,
              dockerfile: str | None = None, *, level: int = GZIP_LEVEL, threads: int | None = None) -> BuildContext:
    """Pack a folder as `pack_folder` does, gzipped, written to `out` as it goes (an upload's body).

    The returned context has no `file` (the bytes went to `out`); `size` is the uncompressed size."""
    sel = _select(folder, dockerfile_text, dockerfile)
    gz = _ParallelGzip(out, level=level, threads=threads)
    try:
        digest, size = _write_tar(gz, sel.root, sel.files, sel.extra)
        gz.finish()
    finally:
        gz.pool.shutdown(cancel_futures=True)
    return BuildContext(file=None, dockerfile=sel.dockerfile, dockerfile_text=sel.dockerfile_text, size=size,
                        source={"type": "folder", "path": str(sel.root), "digest": digest})


class _ParallelGzip:
    """A gzip stream written with zlib in threads (zlib releases the GIL while it deflates), as pigz
    does: 1 MiB blocks deflated on their own (each primed with the previous block's last 32 KiB) and
    joined with sync flushes into one gzip member any gunzip reads. A block that does not compress
    (model weights, archives, images: a sample says so) is stored, which costs a copy, not a deflate."""

    _BLOCK = 1 << 20
    _WINDOW = 32 << 10

    def __init__(self, out: BinaryIO, *, level: int = GZIP_LEVEL, threads: int | None = None):
        from concurrent.futures import ThreadPoolExecutor  # only packing for uploads pays this import

        self.out, self.level = out, level
        self.threads = threads or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="acrmagic-gzip")
        self.pending: list = []
        self.buffer = bytearray()
        self.crc, self.size, self.window = 0, 0, b""
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")  # gzip, deflate, no name, time 0, unknown OS

    def write(self, data) -> None:
        self.buffer += data
        if len(self.buffer) >= self._BLOCK:
            whole = len(self.buffer) - len(self.buffer) % self._BLOCK
            view = memoryview(self.buffer)
            for start in range(0, whole, self._BLOCK):
                self._submit(bytes(view[start:start + self._BLOCK]), last=False)
            view.release()
            del self.buffer[:whole]

    def _submit(self, block: bytes, last: bool) -> None:
        self.crc = zlib.crc32(block, self.crc)
        self.size += len(block)
        self.pending.append(self.pool.submit(_deflate, block, self.window, self.level, last))
        self.window = block[-self._WINDOW:]
        while len(self.pending) > 2 * self.threads:  # bounded: memory stays a few blocks
            self.out.write(self.pending.pop(0).result())

    def finish(self) -> None:
        """The last block, then the trailer (CRC-32 and size of what was written)."""
        self._submit(bytes(self.buffer), last=True)
        for future in self.pending:
            self.out.write(future.result())
        self.pending.clear()
        self.out.write(self.crc.to_bytes(4, "little") + (self.size & 0xFFFFFFFF).to_bytes(4, "little"))


def _deflate(block: bytes, window: bytes, level: int, last: bool) -> bytes:
    if _incompressible(block):
        level = 0
    if window and level:
        z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, window)
    else:
        z = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return z.compress(block) + z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _incompressible(block: bytes, sample: int = 8 << 10) -> bool:
    """Four samples across the block deflate (fastest level) to at least 97% of their size."""
    if len(block) < 8 * sample:
        return False
    step = len(block) // 4
    parts = [block[i * step:i * step + sample] for i in range(4)]
    return sum(len(zlib.compress(p, 1)) for p in parts) >= 0.97 * sample * 4


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
