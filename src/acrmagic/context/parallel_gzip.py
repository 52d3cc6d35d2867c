"""A gzip stream deflated in threads, as pigz writes one: what the uploads of cloud runs are packed with."""

from __future__ import annotations

import os
import zlib
from typing import BinaryIO

#: the gzip level of uploads: zlib's default, several times faster than tarfile's 9 for little size
GZIP_LEVEL = 6


class ParallelGzip:
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

