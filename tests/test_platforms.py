"""A build platform as one value: parsed once with Docker's and az's names, shown, recorded as ACR's
resources record it, spelled for the engine, and checked against what ACR builds for."""

from __future__ import annotations

import pytest

from acrmagic.platforms import DEFAULT, Platform


@pytest.mark.parametrize("text, shown, engine, record", [
    ("linux", "linux", "linux", {"os": "linux", "architecture": "amd64"}),
    ("Linux/AMD64", "linux/amd64", "linux/amd64", {"os": "linux", "architecture": "amd64"}),
    ("linux/x86_64", "linux/amd64", "linux/amd64", {"os": "linux", "architecture": "amd64"}),
    ("linux/aarch64/v8", "linux/arm64/v8", "linux/arm64/v8", {"os": "linux", "architecture": "arm64", "variant": "v8"}),
    ("linux/x86", "linux/x86", "linux/386", {"os": "linux", "architecture": "x86"}),
    ("windows/amd64", "windows/amd64", "windows/amd64", {"os": "windows", "architecture": "amd64"}),
])
def test_one_value_four_forms(text, shown, engine, record):
    p = Platform.parse(text)
    assert (str(p), p.engine, p.to_json()) == (shown, engine, record)
    assert Platform.from_json(p.to_json()) == p.with_default()


def test_the_alias_that_passed_one_check_and_failed_the_next_now_passes_both():
    p = Platform.parse("linux/x86_64")  # Docker's alias: once accepted by the flag and refused by ACR's check
    assert p.acr_problem() is None and p == Platform("linux", "amd64")


@pytest.mark.parametrize("text", ["", "linux//v7", "beos", "linux/amd46", "linux/amd64/v7", "linux/arm/v9/x", None])
def test_what_docker_does_not_know_is_a_value_error(text):
    with pytest.raises(ValueError):
        Platform.parse(text)


def test_what_acr_does_not_build_for():
    assert "not one ACR builds for" in Platform.parse("linux/riscv64").acr_problem()
    assert "not one ACR builds for" in Platform.parse("freebsd/amd64").acr_problem()
    assert DEFAULT.acr_problem() is None and Platform.from_json(None) == Platform("linux")
