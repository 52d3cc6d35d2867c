"""acrmagic.requirements: a requirements file pinned to the running Python's installed versions."""

from __future__ import annotations

from importlib import metadata

import pytest

import acrmagic


def test_named_distributions_and_their_dependencies_pinned_to_what_is_installed(tmp_path):
    text = acrmagic.requirements("scikit-learn", "fastapi", path=tmp_path / "requirements.txt")
    assert (tmp_path / "requirements.txt").read_text() == text
    pins = dict(line.split("==") for line in text.splitlines())
    for name in ("scikit-learn", "numpy", "scipy", "joblib", "fastapi", "starlette", "pydantic"):
        key = next(k for k in pins if k.lower().replace("_", "-") == name)
        assert pins[key] == metadata.version(name), name
    assert list(pins) == sorted(pins, key=lambda n: n.lower().replace("_", "-"))


def test_without_dependencies_only_the_named_ones():
    assert acrmagic.requirements("joblib", dependencies=False) == f"joblib=={metadata.version('joblib')}\n"


def test_extras_bring_their_dependencies():
    assert "cryptography==" not in acrmagic.requirements("pyjwt")
    assert f"cryptography=={metadata.version('cryptography')}\n" in acrmagic.requirements("pyjwt[crypto]")


def test_a_name_not_installed_is_one_line_naming_it():
    with pytest.raises(acrmagic.UsageError, match="no-such-distribution-here is not installed in this Python"):
        acrmagic.requirements("no-such-distribution-here")
    with pytest.raises(acrmagic.UsageError, match="name at least one"):
        acrmagic.requirements()
    with pytest.raises(acrmagic.UsageError, match="is not a distribution name"):
        acrmagic.requirements("scikit learn")
