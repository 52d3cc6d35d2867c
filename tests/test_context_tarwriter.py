"""The tar and its content digest, written in one pass (context/tarwriter.py)."""

from __future__ import annotations

import os
import random
import tarfile
import tracemalloc

from acrmagic.context import INLINE_DOCKERFILE, pack_folder, pack_tree
from test_context import members


def test_inline_dockerfile_and_digest_depends_on_content_not_time(make_context):
    root = make_context({"a.txt": "1"})
    first = pack_folder(root, dockerfile_text="FROM busybox\n")
    assert first.dockerfile == INLINE_DOCKERFILE and INLINE_DOCKERFILE in members(first)
    (root / "a.txt").touch()
    assert pack_folder(root, dockerfile_text="FROM busybox\n").source["digest"] == first.source["digest"]
    (root / "a.txt").write_text("2")
    assert pack_folder(root, dockerfile_text="FROM busybox\n").source["digest"] != first.source["digest"]


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
