"""KEY=VALUE text (`--set`, `--set-secret`, `--build-arg`, `--secret-build-arg`, `--arg`), parsed once.

Each edge (the flags in `options`, the Python API in `api`, a task definition's flags) turns what the
user gave into a plain mapping here; everything below it (run requests, the task-file engine, the ACR
request, the emulator's job) takes mappings, as acr-builder hands its templating one map of values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import UsageError, quoted


def split(text: str, secret: bool = False) -> tuple[str, str]:
    """KEY=VALUE -> (KEY, VALUE), split at the first '='; ValueError with the reason otherwise. For a
    secret the reason never repeats the text: a user who forgot the '=' (or the key) typed the secret."""
    key, eq, value = text.partition("=")
    if not key or not eq:
        missing = "the '='" if not eq else "the KEY before '='"
        raise ValueError(f"expected KEY=VALUE, {missing} is missing "
                         f"({'the value is not shown' if secret else 'got ' + quoted(text)})")
    return key, value


def parse(given: Mapping | Iterable[str] | None, flag: str, secret: bool = False) -> dict[str, str]:
    """A mapping (values made text, as az sends them) or KEY=VALUE texts (last wins) -> {KEY: VALUE};
    one UsageError line naming `flag` for a text that is not KEY=VALUE."""
    if given is None:
        return {}
    if isinstance(given, Mapping):
        if any(str(k) == "" for k in given):
            raise UsageError(f"{flag}: expected KEY=VALUE, the KEY is missing (an empty name)")
        return {str(k): str(v) for k, v in given.items()}
    if isinstance(given, str):  # one KEY=VALUE, not its characters
        given = [given]
    out: dict[str, str] = {}
    for text in given:
        try:
            key, value = split(str(text), secret)
        except ValueError as e:
            raise UsageError(f"{flag}: {e}") from None
        out[key] = value
    return out
