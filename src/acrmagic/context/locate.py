"""Where a build's context and Dockerfile are, and what of the folder a build sends.

Both ways a local build reads a folder start here: the BuildKit session (targets/local/session) serves
the folder and the Dockerfile `locate` found, and the packed tar holds what `select` chose.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ContextError  # one line, whatever path it quotes
from ..textfiles import decode
from .ignore import context_files

#: where a Dockerfile that is not part of the context (a cell body, excluded, outside) is placed in it
INLINE_DOCKERFILE = ".acrmagic.Dockerfile"


def context_folder(folder: str | os.PathLike) -> Path:
    """The context's folder, resolved; a missing one is one line naming the flag."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise ContextError(f"--context: no such folder: {folder}")
    return root


def locate(folder: str | os.PathLike, dockerfile_text: str | None, dockerfile: str | None
           ) -> tuple[Path, Path | None, str, bytes]:
    """The context's folder, the Dockerfile's path (None: `dockerfile_text`, a cell body, is it), its
    text and bytes; a missing folder or Dockerfile, or one not in UTF-8, is one line naming it."""
    root = context_folder(folder)
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


@dataclass
class Selection:
    """What a build of a folder sends: the paths under `root` its ignore file leaves in, and the
    Dockerfile, either one of those paths or an `extra` member at `INLINE_DOCKERFILE`."""

    root: Path
    files: list[str]
    extra: dict[str, bytes]
    dockerfile: str  # its path inside the context
    dockerfile_text: str
    dockerfile_bytes: bytes


def select(folder: str | os.PathLike, dockerfile_text: str | None, dockerfile: str | None) -> Selection:
    """What a build of `folder` sends, as `docker build` (BuildKit) sends it: `.dockerignore` (or
    `<Dockerfile>.dockerignore`) applied, and a Dockerfile that is not part of the context (a cell
    body, one the ignore file excludes, one outside the folder) carried as `INLINE_DOCKERFILE`."""
    root, path, text, data = locate(folder, dockerfile_text, dockerfile)
    files = context_files(root, path)
    try:
        name = path.resolve().relative_to(root).as_posix() if path is not None else None
    except ValueError:  # outside the folder: sent inside the context, as docker does
        name = None
    if name is None or name not in files:  # a cell, outside, or excluded by .dockerignore: not part of it
        return Selection(root, files, {INLINE_DOCKERFILE: data}, INLINE_DOCKERFILE, text, data)
    return Selection(root, files, {}, name, text, data)
