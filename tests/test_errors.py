"""The one exception tree: every message one line, bounded, quoting values short."""

from __future__ import annotations

from acrmagic.errors import MAX_MESSAGE, AcrMagicError, RunNotFound, UsageError, quoted


def test_a_pasted_value_never_floods_a_message():
    e = UsageError("show: " + "x" * 100_000)
    assert len(e.message) <= MAX_MESSAGE and e.message.endswith("(100006 characters)")
    assert e._render_traceback_()[0].endswith(e.message)


def test_quoted_is_short_and_one_line():
    assert quoted("abc") == "'abc'"
    long = quoted("y" * 5000)
    assert len(long) <= 60 and long.endswith("...'")
    assert "\n" not in AcrMagicError(f"bad {quoted('a' + chr(10) + 'b')}").message


def test_history_verbs_quote_what_they_were_given(home):
    import acrmagic

    for call in (lambda: acrmagic.show("x" * 100_000), lambda: acrmagic.runs(status="y" * 5000)):
        try:
            call()
        except (RunNotFound, UsageError) as e:
            assert len(str(e)) < 300 and "\n" not in str(e)
        else:
            raise AssertionError("no error")


#: raised and caught inside acrmagic (turned into one of the exported errors, an HTTP answer, or a run's state)
INTERNAL = {"AcrMagicError", "BadDelivery", "HelpShown", "EngineError", "BuildFailed", "EngineLost", "StepFailed",
            "TemplateError", "YamlTagMismatch", "TemplateBreak", "TemplateContinue", "EmulatorError", "ArmError",
            "SourceUnavailable", "StepStopped"}


def test_every_error_a_user_can_meet_is_exported_at_the_top_level():
    import inspect

    import acrmagic
    from acrmagic import errors

    public = {name for name, cls in inspect.getmembers(errors, inspect.isclass)
              if issubclass(cls, errors.AcrMagicError) and name not in INTERNAL}
    assert public <= set(acrmagic.__all__) and all(getattr(acrmagic, name) is getattr(errors, name) for name in public)
    assert "AcrMagicError" in acrmagic.__all__
