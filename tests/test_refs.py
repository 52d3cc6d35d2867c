"""The image-reference grammar: Docker's rules, its length limit, and what names a registry."""

from __future__ import annotations

import pytest

from acrmagic import refs
from acrmagic.errors import UsageError


def test_parse_and_normalize():
    assert refs.normalize("python:3.11-slim") == "docker.io/library/python:3.11-slim"
    ref = refs.parse("localhost:5000/team/app:v1")
    assert (ref.registry, ref.repository, ref.tag) == ("localhost:5000", "team/app", "v1")
    assert refs.qualify("app:1", "localhost:5000") == "localhost:5000/app:1"
    assert refs.with_default_tag("localhost:5000/app") == "localhost:5000/app:latest"


@pytest.mark.parametrize("text", ["busybox\n", "UPPER/case", "a" * 300, "localhost:5000/" + "b" * 250,
                                  "app:" + "t" * 129, "-x", "a b"])
def test_what_docker_refuses_is_refused_in_one_short_line(text):
    with pytest.raises(ValueError) as e:
        refs.parse(text)
    assert "\n" not in str(e.value) and len(str(e.value)) < 200


def test_the_name_limit_is_dockers():
    assert refs.parse("localhost:5000/" + "b" * (255 - len("localhost:5000/")))
    with pytest.raises(ValueError, match="at most 255"):
        refs.parse("localhost:5000/" + "b" * (256 - len("localhost:5000/")))


@pytest.mark.parametrize("text, acr", [("myregistry", True), ("MyReg1", True), ("myreg.azurecr.io", True),
                                       ("localhost", False), ("localhost:5000", False), ("reg.example.com", False),
                                       ("127.0.0.1:5000", False)])
def test_registries(text, acr):
    assert refs.check_registry(text, "-r") == text
    assert refs.is_acr_name(text) is acr


@pytest.mark.parametrize("text", ["ab", "a" * 51, "my registry", " myreg", "myreg\n", "a_b_c_d", "x.azurecr.io", ""])
def test_not_registries(text):
    with pytest.raises(UsageError, match="is not a registry"):
        refs.check_registry(text, "-r")
