"""The public verbs' edge: what a Python caller gives is parsed there, once, into what the flags give."""

from __future__ import annotations

import pytest

from acrmagic import api
from acrmagic.errors import UsageError
from acrmagic.platforms import Platform


@pytest.fixture
def handed_on(monkeypatch):
    """The parsed options each verb hands to its *_with form (which the flags' callers share)."""
    got = []
    monkeypatch.setattr(api, "build_with", lambda opts, observer=None: got.append(opts))
    monkeypatch.setattr(api, "run_with", lambda opts, observer=None: got.append(opts))
    return got


def test_build_takes_mappings_or_texts_and_a_platform_as_the_flags_give_them(handed_on):
    api.build("FROM busybox\n", build_args={"N": 3}, secret_build_args=["TOKEN=t=1"], platform="linux/x86_64")
    opts = handed_on[0]
    assert opts.build_args == {"N": "3"} and opts.secret_build_args == {"TOKEN": "t=1"}
    assert opts.platform == Platform.parse("linux/amd64")


def test_run_takes_set_values_as_a_mapping_or_as_texts(handed_on):
    api.run("steps: []\n", set=["a=1", "b=x=y"], set_secret={"pw": "p"})
    assert handed_on[0].set_values == {"a": "1", "b": "x=y"} and handed_on[0].set_secrets == {"pw": "p"}


@pytest.mark.parametrize("call, message", [
    (lambda: api.run("steps: []\n", set=["novalue"]), "--set: expected KEY=VALUE, the '=' is missing (got 'novalue')"),
    (lambda: api.run("steps: []\n", set_secret=["hunter2"]),
     "--set-secret: expected KEY=VALUE, the '=' is missing (the value is not shown)"),
    (lambda: api.build("FROM busybox\n", build_args=["=x"]), "--build-arg: expected KEY=VALUE, the KEY before '='"),
    (lambda: api.build("FROM busybox\n", platform="linux/nonesuch"), "--platform: "),
])
def test_a_bad_value_is_one_line_naming_the_flag(handed_on, call, message):
    with pytest.raises(UsageError) as e:
        call()
    assert str(e.value).startswith(message) and "\n" not in str(e.value) and handed_on == []
