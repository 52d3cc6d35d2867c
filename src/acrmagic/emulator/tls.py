"""The emulator's local certificate authority (trustme): one CA, one server certificate for the
loopback names. Clients trust the CA file (`connection_verify=`, `REQUESTS_CA_BUNDLE`); the same
certificate serves the management endpoint and Azurite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_bundle: Path   # the CA certificate clients trust
    cert: Path        # the server certificate chain
    key: Path         # its private key


def make_tls(folder: Path) -> TlsFiles:
    """A fresh CA and server certificate for 127.0.0.1 and localhost, written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="acrmagic emulator")
    server = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    server.private_key_pem.write_to_path(str(files.key))
    files.key.chmod(0o600)
    # leaf first, then the CA: what a TLS server sends
    files.cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems) + ca.cert_pem.bytes())
    return files
