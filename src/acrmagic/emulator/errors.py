"""The emulator's exceptions. They belong in acrmagic/errors.py (the project keeps every exception
class there); they sit here until that file takes them, unchanged."""

from __future__ import annotations

from ..errors import AcrMagicError


class EmulatorError(AcrMagicError):
    """The emulator cannot start or serve (Azurite missing, a port taken, a bad configuration)."""


class ArmError(AcrMagicError):
    """An error answer of the emulator's management API: HTTP status, ARM error code, message."""

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.target = status, code, target
        self.headers = headers or {}
