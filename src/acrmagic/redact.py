"""Keeping secret values out of logs, records, outputs and exceptions."""

from __future__ import annotations

MASK = "***"


class Redactor:
    """Replaces every known secret value in a text with ``***``. Longest values first, so a secret
    that contains another is masked whole."""

    def __init__(self, secrets=()):
        self.values: list[str] = []
        for value in secrets:
            self.add(value)

    def add(self, value: str) -> None:
        if value and value not in self.values:
            self.values.append(value)
            self.values.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text
