"""The source of a cloud run: a folder packed as tar.gz, uploaded to the registry's build-source
blob (`listBuildSourceUploadUrl` -> BlockBlob PUT), and named in the run request by `relativePath`.

What goes in is what `docker build` sends for the folder (context.py: `.dockerignore`, or
`<Dockerfile>.dockerignore` beside the Dockerfile, with Docker's matcher), so a folder builds the same
locally and in ACR. Where `az acr build` / `az acr run` (2.91, `_archive_utils.py`) pack differently:

- az uses a hand-written matcher: a trailing or leading `/` on a rule makes it never match,
  `**/*.pyc` misses a root-level `x.pyc`, and matching is on the full path only; acrmagic uses Docker's.
- az always leaves out `.git`, `.gitignore`, `.hg`, `.hgignore`, `.svn`, `.bzr`, `bzrignore` (by
  basename, anywhere) and any `.venv` folder; acrmagic leaves out only what `.dockerignore` says, as
  Docker does (`.git` goes up unless it is ignored).
- az looks for `<Dockerfile>.dockerignore` relative to the current directory joined with the
  context; acrmagic beside the Dockerfile, as BuildKit does. Matching is case-sensitive in both.
- az gzips at level 9 with tarfile's PAX headers; acrmagic at zlib's level 6, GNU headers,
  whole-second times, owner 0 (context.py), and records a content digest of what it sent.
- As az: the Dockerfile of a quick build is always added at the archive root under a new name,
  `<uuid32hex>_<basename>` (so one the `.dockerignore` excludes still builds), and the request's
  `dockerFilePath` names it. A task or values file that is not part of the uploaded folder (a cell,
  a file outside the folder or excluded) is added at the root the same way (`<uuid32hex>_acb.yaml`).
  az run also appends `<context>/Dockerfile` as `Dockerfile` again (a duplicate entry); acrmagic does not.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ... import context as contexts
from ...errors import CloudError
from . import sdk

UPLOAD_TIMEOUT = 300  # seconds: connect/read timeout of the upload, as az (#20745)


@dataclass
class Packed:
    """A packed source in a temporary file: what the request and the run record need of it."""

    file: BinaryIO
    size: int  # compressed bytes
    digest: str  # content digest of the tar (paths, modes, bytes)
    root: Path
    names: dict[str, str] = field(default_factory=dict)  # role ("dockerfile", "task", "values") -> in-archive path
    dockerfile_text: str | None = None

    def close(self) -> None:
        self.file.close()


def unique_name(basename: str) -> str:
    return f"{uuid.uuid4().hex}_{basename}"


def _gzip(root: Path, files: list[str], extra: dict[str, bytes]) -> tuple[BinaryIO, str, int]:
    """The tar.gz of `files` under `root` plus `extra` members, in an unnamed temporary file."""
    out = tempfile.TemporaryFile(prefix="acrmagic-source-", suffix=".tar.gz")
    try:
        digest, _ = contexts.write_tar_gz(out, root, files, extra)
        out.flush()
        size = out.tell()
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out, digest, size


def pack_build(folder: str | os.PathLike, dockerfile_text: str | None, dockerfile: str | None) -> Packed:
    """A quick build's folder: the context as Docker sends it, the Dockerfile added at the root under
    `<uuid32hex>_<basename>` (ContextError for a missing folder or Dockerfile)."""
    sel = contexts.select(folder, dockerfile_text, dockerfile)
    basename = "Dockerfile" if dockerfile_text is not None else Path((dockerfile or "Dockerfile").replace(os.sep, "/")).name
    name = unique_name(basename)  # always added under its own name, as az does: no INLINE_DOCKERFILE here
    file, digest, size = _gzip(sel.root, sel.files, {name: sel.dockerfile_bytes})
    return Packed(file, size, digest, sel.root, {"dockerfile": name}, sel.dockerfile_text)


def pack_task(folder: Path, task_text: str, task_name: str, values_file: str | None,
              values_text: str | None) -> Packed:
    """A task run's folder (less what its .dockerignore excludes), with the task file (and values
    file) as paths inside it, or added at the root when they are not part of it."""
    root = contexts.context_folder(folder)
    files = contexts.context_files(root)
    included = set(files)
    names, extra = {}, {}
    inside = _inside(root, Path(task_name)) if task_name and not task_name.startswith("<") else None
    if inside is not None and inside in included:
        names["task"] = inside
    else:
        names["task"] = unique_name("acb.yaml")
        extra[names["task"]] = task_text.encode("utf-8")
    if values_file:
        rel = _inside(root, root / values_file)
        if rel is not None and rel in included:
            names["values"] = rel
        elif values_text is not None:
            names["values"] = unique_name(Path(values_file).name)
            extra[names["values"]] = values_text.encode("utf-8")
    file, digest, size = _gzip(root, files, extra)
    return Packed(file, size, digest, root, names)


def _inside(root: Path, path: Path) -> str | None:
    """`path` (relative to the current directory, or absolute) as a path inside `root`, or None."""
    try:
        return path.expanduser().resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def upload(service, tasks_client, resource_group: str, registry: str, packed: Packed) -> str:
    """Upload the archive as az does; its `relativePath` for the run request's `sourceLocation`."""
    sdk.ready("azure.storage.blob")  # imported in the background since the run began (sdk.py)
    from azure.core.exceptions import AzureError
    from azure.storage.blob import BlobClient

    with service.translating(f"asking registry {registry} for an upload URL", registry=registry,
                             resource_group=resource_group):
        target = tasks_client.registries.get_build_source_upload_url(resource_group, registry)
    kwargs = {"connection_timeout": UPLOAD_TIMEOUT, "read_timeout": UPLOAD_TIMEOUT}
    if service.ca_bundle:
        kwargs["connection_verify"] = service.ca_bundle
    packed.file.seek(0)
    try:
        blob = BlobClient.from_blob_url(target.upload_url, **kwargs)
        blob.upload_blob(packed.file, length=packed.size, blob_type="BlockBlob", overwrite=True)
    except AzureError as e:
        reason = " ".join(str(getattr(e, "message", None) or e).split()).split(" RequestId:")[0]
        status = getattr(e, "status_code", None)
        raise CloudError(f"uploading the context ({packed.size} bytes) to registry {registry} failed: "
                         f"{reason[:300]}; try again, or check the network to the storage endpoint",
                         code="UploadFailed", status=status) from None
    return target.relative_path

