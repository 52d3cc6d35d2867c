"""Where the context and its Dockerfile are, and what of the folder a build sends (context/locate.py)."""

from __future__ import annotations

import pytest

from acrmagic.context import INLINE_DOCKERFILE, pack_folder
from acrmagic.context.locate import context_folder, select
from acrmagic.errors import ContextError
from test_context import members


def test_an_excluded_dockerfile_is_read_but_not_part_of_the_context(make_context):
    root = make_context({".dockerignore": "Dockerfile\n", "Dockerfile": "FROM busybox\n", "a": ""})
    ctx = pack_folder(root)
    assert ctx.dockerfile == INLINE_DOCKERFILE and ctx.dockerfile_text == "FROM busybox\n"
    assert members(ctx) == [INLINE_DOCKERFILE, ".dockerignore", "a"]  # `COPY Dockerfile` fails, as with docker


def test_dockerfile_in_a_subfolder(make_context):
    root = make_context({"docker/Dockerfile.prod": "FROM busybox\n"})
    ctx = pack_folder(root, dockerfile="docker/Dockerfile.prod")
    assert ctx.dockerfile == "docker/Dockerfile.prod" and ctx.dockerfile_text == "FROM busybox\n"


def test_missing_dockerfile_names_the_flag(make_context):
    with pytest.raises(ContextError, match="-f/--file: no Dockerfile at .*Dockerfile"):
        pack_folder(make_context({"a": ""}))


def test_select_places_a_dockerfile_outside_the_folder_inline(make_context, tmp_path):
    root = make_context({"a": ""})
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\n")
    sel = select(root, None, str(outside))
    assert sel.dockerfile == INLINE_DOCKERFILE and sel.extra == {INLINE_DOCKERFILE: b"FROM busybox\n"}
    assert sel.files == ["a"] and sel.dockerfile_bytes == b"FROM busybox\n"
    with pytest.raises(ContextError, match="--context: no such folder: .*nowhere"):
        context_folder(tmp_path / "nowhere")
