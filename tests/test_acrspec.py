"""Facts of the ACR Tasks API both sides check against: the cron dialect of timer triggers, names, timeouts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acrmagic import acrspec


@pytest.mark.parametrize("expr", ["0 2 * * *", "*/5 * * * *", "0 12 * * Mon-Fri", "0 0 1 JAN,JUL *", "0 0 29 2 *",
                                  "15 3 1-7 * 1", "0 0 * * 7", "0-30/10 8-18 * * *"])
def test_what_acr_takes(expr):
    assert acrspec.cron_problem(expr) is None


@pytest.mark.parametrize("expr, why", [
    ("0 0 30 2 *", "never fire"), ("0 0 31 4,6,9,11 *", "never fire"), ("0 0 31 2 *", "never fire"),
    ("0 0 L * *", "L, W, # or ?"), ("0 0 15W * *", "L, W, # or ?"), ("0 0 * * 5#3", "L, W, # or ?"),
    ("0 0 ? * *", "L, W, # or ?"), ("0 0 * * 5L", "L, W, # or ?"), ("0 0 LW * *", "L, W, # or ?"),
    ("0 0 * * * *", "5 fields"), ("0 0 * *", "5 fields"), ("@daily", "5 fields"),
    ("60 * * * *", "out of range"), ("0 24 * * *", "out of range"), ("0 0 0 * *", "out of range"),
    ("0 0 * 13 *", "out of range"), ("x * * * *", "not cron syntax"), ("0 0 * * Monday", "not cron syntax"),
])
def test_what_acr_refuses(expr, why):
    assert why in acrspec.cron_problem(expr)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789*/,-LW#? abcJANMonFri", max_size=30))
def test_any_text_gets_an_answer_never_an_exception(text):
    answer = acrspec.cron_problem(text)
    assert answer is None or isinstance(answer, str)


def test_names_and_timeouts():
    assert acrspec.TASK_NAME.fullmatch("my-task_1") and not acrspec.TASK_NAME.fullmatch("abcd")
    assert not acrspec.TASK_NAME.fullmatch("abcde\n") and not acrspec.REGISTRY_NAME.fullmatch("my-reg")
    assert acrspec.valid_timeout(300) and acrspec.valid_timeout(28800)
    assert not acrspec.valid_timeout(299) and not acrspec.valid_timeout(True) and not acrspec.valid_timeout(600.0)


def test_run_ids_count_in_base_36():
    assert [acrspec.base36(n) for n in (1, 9, 10, 35, 36, 1295, 1296)] == ["1", "9", "a", "z", "10", "zz", "100"]
