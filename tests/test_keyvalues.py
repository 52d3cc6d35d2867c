"""KEY=VALUE text parsed once, at the edge, into a mapping."""

from __future__ import annotations

import pytest

from acrmagic import keyvalues
from acrmagic.errors import UsageError


def test_texts_split_at_the_first_equals_sign_and_the_last_wins():
    assert keyvalues.parse(["a=1", "b=c=d", "e=", "a=2"], "--set") == {"a": "2", "b": "c=d", "e": ""}


def test_a_mapping_is_taken_as_it_is_with_its_values_made_text():
    assert keyvalues.parse({"n": 3, "flag": True}, "--build-arg") == {"n": "3", "flag": "True"}
    assert keyvalues.parse(None, "--set") == {}
    assert keyvalues.parse("one=1", "--set") == {"one": "1"}  # one text, not its characters


@pytest.mark.parametrize("text, missing", [("novalue", "the '='"), ("=x", "the KEY before '='")])
def test_one_line_names_the_flag_and_what_is_missing(text, missing):
    with pytest.raises(UsageError) as e:
        keyvalues.parse(["ok=1", text], "--set")
    assert str(e.value) == f"--set: expected KEY=VALUE, {missing} is missing (got {text!r})"


def test_a_secret_is_never_repeated_in_the_message():
    for text in ("hunter2", "=hunter2"):
        with pytest.raises(UsageError) as e:
            keyvalues.parse([text], "--set-secret", secret=True)
        assert "hunter2" not in str(e.value) and str(e.value).startswith("--set-secret: expected KEY=VALUE")


def test_an_empty_name_in_a_mapping_is_refused():
    with pytest.raises(UsageError, match=r"^--set: expected KEY=VALUE, the KEY is missing"):
        keyvalues.parse({"": "x"}, "--set")
