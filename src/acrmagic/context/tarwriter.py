"""The tar a build context travels as, written in one pass with its content digest.

GNU format, whole-second times, owner 0 (BuildKit does not recognise a PAX tar as a context); files
copied in 1 MiB chunks, so memory stays flat in the context's size. The digest covers paths, modes,
link targets and bytes, not times: touching a file does not change it, editing one does.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import tarfile

from ..errors import ContextError

_CHUNK = 1 << 20  # bytes read (and written) at a time: large enough that Python's overhead vanishes


class TarWriter:
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


def write_tar(out, root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[str, int]:
    """The tar of `files` under `root` plus `extra` members, written to `out`; (digest, size)."""
    writer = TarWriter(out)
    for rel in files:
        if rel not in extra:
            writer.add_path(root, rel)
    for name, data in sorted(extra.items()):
        writer.add_bytes(name, data)
    return writer.close(), writer.size


def spool(root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[BinaryIO, str, int]:
    """The tar in an unnamed temporary file (on disk, in the page cache: not in this process's memory)."""
    out = temporary_file()
    try:
        digest, size = write_tar(out, root, files, extra)
        out.flush()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, digest, size


def temporary_file() -> BinaryIO:
    """An unnamed file on disk: Linux's O_TMPFILE where it works (no name ever exists, and the
    command line does not pay for importing tempfile), else the tempfile module's."""
    if hasattr(os, "O_TMPFILE"):
        try:
            return open(os.open(os.environ.get("TMPDIR") or "/tmp", os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")
        except OSError:
            pass  # a file system without O_TMPFILE
    import tempfile

    return tempfile.TemporaryFile(prefix="acrmagic-context-")
