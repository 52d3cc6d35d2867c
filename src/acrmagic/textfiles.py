"""Reading the user's text files (Dockerfiles, .dockerignore, task files, values files) as UTF-8.

Docker, acr-builder and BuildKit read these files as UTF-8 bytes. A file saved in another encoding
would otherwise fail far from its cause (a YAML error on a line that looks fine, a Dockerfile
instruction BuildKit does not know), so it is refused here with one line that names the file, the
line and column of the first bad byte, and what to do. A UTF-8 byte-order mark is accepted and
stripped, as Docker does for Dockerfiles. Line ends are kept as they are in the file.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from .errors import UsageError

# longest first: a UTF-32 LE mark starts with the UTF-16 LE one
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32 LE"), (codecs.BOM_UTF32_BE, "UTF-32 BE"),
         (codecs.BOM_UTF16_LE, "UTF-16 LE"), (codecs.BOM_UTF16_BE, "UTF-16 BE"))
_FIX = "save the file as UTF-8"


def problem(data: bytes) -> tuple[int, int | None, str] | None:
    """(line, column or None, what is wrong) of the first reason `data` is not usable UTF-8 text, or None.
    Lines and columns are 1-based; the column counts characters."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return 1, None, f"starts with a {encoding} byte-order mark; {_FIX}"
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line, column = _position(data, e.start)
        return line, column, f"not UTF-8 (byte 0x{data[e.start]:02x}); {_FIX}"
    nul = text.find("\0")
    if nul >= 0:  # valid UTF-8, but no text file holds NUL: typically UTF-16 saved without a mark
        line, column = _position(data, len(text[:nul].encode("utf-8")))
        return line, column, f"contains a NUL byte (UTF-16 without a byte-order mark?); {_FIX}"
    return None


def _position(data: bytes, offset: int) -> tuple[int, int]:
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8")) + 1


def where(name: str, line: int, column: int | None) -> str:
    """`name:line[:column]`, on one line whatever the name holds."""
    name = name.replace("\r", "\\r").replace("\n", "\\n")
    return f"{name}:{line}" + (f":{column}" if column is not None else "")


def decode(data: bytes, name: str) -> str:
    """The text of a user file as UTF-8 (a UTF-8 byte-order mark dropped). `name` is how messages name it:
    a path, or what the file is when it has none (e.g. "--values", "<cell>"). Raises UsageError."""
    found = problem(data)
    if found:
        line, column, what = found
        raise UsageError(f"{where(name, line, column)}: {what}")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    return data.decode("utf-8")


def read_text(path: str | Path, what: str) -> str:
    """Read and decode a user file. `what` says what the file is (e.g. "--values", "Dockerfile") when it
    cannot be read; decoding errors name the path. Raises UsageError."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise UsageError(f"{what}: cannot read {path}: {e.strerror or e}") from None
    return decode(data, str(path))


__all__ = ["decode", "read_text", "problem", "where"]
