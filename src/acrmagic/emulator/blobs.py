"""Blob I/O against Azurite with azure-storage-blob: one container per registry holding the uploaded
sources (``source/<yyyyMMdd>0000/<uuid>.tar.gz``) and the run logs (``logs/<runId>/rawtext.log``),
SAS URLs minted with the SDK's generate_blob_sas, and the log writer."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

from .azurite import ACCOUNT, ACCOUNT_KEY

UPLOAD_SAS_LIFETIME = timedelta(hours=1)
LOG_SAS_LIFETIME = timedelta(minutes=70)   # what two real debug logs showed for logLink
MAX_APPEND = 4 * 1024 * 1024               # an append block holds at most 4 MiB


def container_name(registry_id: str) -> str:
    """A container per registry, shaped like the service's (``container-<hex32>``)."""
    return "container-" + hashlib.sha256(registry_id.lower().encode()).hexdigest()[:32]


def log_time() -> str:
    """acr-builder's time stamp at the start of its own log lines."""
    return datetime.now(timezone.utc).strftime("%Y/%m/%d %H:%M:%S")


def log_blob_name(run_id: str) -> str:
    return f"logs/{run_id}/rawtext.log"


class Storage:
    def __init__(self, endpoint: str, ca_bundle: Path):
        self.endpoint = endpoint.rstrip("/")
        self.service = BlobServiceClient(self.endpoint, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                                         connection_verify=str(ca_bundle))
        self._made: set[str] = set()
        self._lock = threading.Lock()

    def ensure_container(self, container: str) -> None:
        with self._lock:
            if container in self._made:
                return
            try:
                self.service.create_container(container)
            except ResourceExistsError:
                pass
            self._made.add(container)

    def sas_url(self, container: str, blob: str, permission: BlobSasPermissions, lifetime: timedelta) -> str:
        sas = generate_blob_sas(ACCOUNT, container, blob, account_key=ACCOUNT_KEY, permission=permission,
                                expiry=datetime.now(timezone.utc) + lifetime)
        return f"{self.endpoint}/{container}/{blob}?{sas}"

    def upload_url(self, container: str, blob: str) -> str:
        self.ensure_container(container)
        return self.sas_url(container, blob, BlobSasPermissions(read=True, write=True, create=True), UPLOAD_SAS_LIFETIME)

    def read_url(self, container: str, blob: str) -> str:
        return self.sas_url(container, blob, BlobSasPermissions(read=True), LOG_SAS_LIFETIME)

    def exists(self, container: str, blob: str) -> bool:
        return self.service.get_blob_client(container, blob).exists()

    def download(self, container: str, blob: str, path: Path) -> None:
        with open(path, "wb") as f:
            self.service.get_blob_client(container, blob).download_blob().readinto(f)

    def log(self, container: str, run_id: str) -> "LogBlob":
        self.ensure_container(container)
        return LogBlob(self.service.get_blob_client(container, log_blob_name(run_id)))


class LogBlob:
    """A run's log as an append blob: created when the run starts, lines appended with CRLF ends in
    batches (a background flush every ``interval`` s), and the ``Complete`` metadata set last, after
    every byte is in, because readers stop at the first poll that sees it."""

    def __init__(self, client, interval: float = 0.25):
        self.client = client
        self.interval = interval
        self._buffer: list[bytes] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def create(self) -> None:
        self.client.create_append_blob()
        self._thread = threading.Thread(target=self._flush_loop, name="log-flush", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        data = (line.rstrip("\r\n").replace("\r\n", "\n").replace("\n", "\r\n") + "\r\n").encode("utf-8", "replace")
        with self._lock:
            self._buffer.append(data)

    def complete(self, status: str) -> None:
        self._closed = True
        self._wake.set()
        if self._thread:
            self._thread.join()
        self._flush()
        self.client.set_blob_metadata({"Complete": status})

    def _flush_loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            try:
                self._flush()
            except Exception:  # a lost batch must not stop the run; the final flush tries again later lines
                pass

    def _flush(self) -> None:
        with self._lock:
            data, self._buffer = b"".join(self._buffer), []
        for start in range(0, len(data), MAX_APPEND):
            self.client.append_block(data[start:start + MAX_APPEND])
