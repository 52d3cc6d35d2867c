"""gzip deflated in threads (context/parallel_gzip.py): the same tar and digest as the plain packer,
incompressible blocks stored."""

from __future__ import annotations

import gzip
import io
import random

from acrmagic.context import pack_folder, select, write_tar_gz


def test_gzip_packer_writes_the_same_tar_and_digest(make_context):
    root = make_context({"Dockerfile": "FROM x\n", "text.txt": "hello\n" * 200_000,
                         ".dockerignore": "skip\n", "skip": ""})
    (root / "noise.bin").write_bytes(random.Random(2).randbytes(3 << 20))
    plain = pack_folder(root)
    out = io.BytesIO()
    sel = select(root, None, None)  # what an upload packs (targets/acr/archive.py)
    digest, size = write_tar_gz(out, sel.root, sel.files, sel.extra, threads=2)
    assert gzip.decompress(out.getvalue()) == plain.tar.read()
    assert digest == plain.source["digest"] and size == plain.size and sel.dockerfile == "Dockerfile"
    assert len(out.getvalue()) < (3 << 20) * 1.01 + 50_000  # the noise stored as it is, the text compressed
