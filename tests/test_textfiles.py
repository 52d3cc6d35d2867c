"""User text files: UTF-8 only, refused with file, line, column and what to do."""

from __future__ import annotations

import codecs

import pytest

from acrmagic.errors import UsageError
from acrmagic.textfiles import decode, read_text


def message(data: bytes, name: str = "Dockerfile") -> str:
    with pytest.raises(UsageError) as info:
        decode(data, name)
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("encoding,words", [
    ("utf-16-le", "UTF-16 LE"), ("utf-16-be", "UTF-16 BE"), ("utf-32-le", "UTF-32 LE"), ("utf-32-be", "UTF-32 BE"),
])
def test_a_byte_order_mark_names_the_encoding_it_announces(encoding, words):
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
           "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}[encoding]
    data = bom + "FROM busybox\n".encode(encoding)
    assert message(data) == f"Dockerfile:1: starts with a {words} byte-order mark; save the file as UTF-8"


def test_latin1_bytes_mid_file_give_line_and_column():
    data = "FROM busybox\nRUN true\nLABEL café=1\n".encode("latin-1")
    assert message(data) == "Dockerfile:3:10: not UTF-8 (byte 0xe9); save the file as UTF-8"


def test_the_column_counts_characters_not_bytes():
    data = "é = ".encode() + b"\xff"
    assert message(data, "v.yaml") == "v.yaml:1:5: not UTF-8 (byte 0xff); save the file as UTF-8"


def test_utf16_without_a_mark_is_caught_by_its_nul_bytes():
    data = "steps: []\n".encode("utf-16-le")
    assert message(data, "--values").startswith("--values:1:2: contains a NUL byte")


def test_a_utf8_byte_order_mark_is_accepted_and_stripped():
    assert decode(codecs.BOM_UTF8 + "FROM busybox\r\n".encode(), "Dockerfile") == "FROM busybox\r\n"
    assert decode("naïve ✓".encode(), "x") == "naïve ✓"
    assert decode(b"", "x") == ""


def test_a_utf8_mark_does_not_shift_columns():
    assert message(codecs.BOM_UTF8 + b"ab\x80").startswith("Dockerfile:1:3: not UTF-8 (byte 0x80)")


def test_a_name_with_a_newline_stays_one_line():
    assert message(b"\xff", "a\nb") == "a\\nb:1:1: not UTF-8 (byte 0xff); save the file as UTF-8"


def test_read_text(tmp_path):
    path = tmp_path / "values.yaml"
    path.write_bytes(b"a: 1\nb: \xe9\n")
    with pytest.raises(UsageError, match=r"values\.yaml:2:4: not UTF-8 \(byte 0xe9\)"):
        read_text(path, "--values")
    path.write_text("a: 1\n")
    assert read_text(path, "--values") == "a: 1\n"
    with pytest.raises(UsageError, match=r"^--values: cannot read .*nope\.yaml: No such file"):
        read_text(tmp_path / "nope.yaml", "--values")
