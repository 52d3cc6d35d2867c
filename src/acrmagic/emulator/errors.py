"""The emulator's own failure (shown as one line by `acrmagic emulator`)."""

from __future__ import annotations

from ..errors import AcrMagicError


class EmulatorError(AcrMagicError):
    """The emulator cannot start or serve (Azurite missing, a port taken, a bad configuration)."""
