"""Keeping secret values out of logs, records, outputs and exceptions."""

from __future__ import annotations

import re

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


# the parts of a SAS URL that make it a credential (the signature, and what it signs)
_SAS_PARAMS = re.compile(r"([?&](sig|se|sp|sv|sr|st|spr|skoid|sktid|skt|ske|sks|skv)=)[^&\s'\"]*")


def strip_sas(text: str) -> str:
    """A storage SAS URL quoted in a message (an HTTP library's "Max retries exceeded with url: ...")
    keeps its path but loses its signature."""
    return _SAS_PARAMS.sub(r"\1***", text) if "sig=" in text else text
