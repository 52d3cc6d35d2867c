"""Which line of a failed step's output is shown as the error (acrmagic.failure)."""

from __future__ import annotations

from acrmagic.failure import clean, failing_line, is_bookkeeping


def test_a_python_traceback_gives_its_exception_line_not_what_follows():
    lines = ["loading model", "Traceback (most recent call last):", '  File "/app/serve.py", line 12, in <module>',
             "    MODEL = joblib.load(path)", "FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib'",
             "the detached container exited with code 1",
             "Step ID: serve marked as failed (elapsed time in seconds: 0.700000)"]
    assert failing_line(lines) == "FileNotFoundError: [Errno 2] No such file or directory: 'model.joblib'"


def test_the_last_of_chained_tracebacks_wins():
    lines = ["Traceback (most recent call last):", "  x", "KeyError: 'a'", "",
             "During handling of the above exception, another exception occurred:", "",
             "Traceback (most recent call last):", "  y", "mypkg.errors.ModelError: no weights"]
    assert failing_line(lines) == "mypkg.errors.ModelError: no weights"


def test_pip_errors_over_its_hints_and_notices():
    lines = ["Collecting scikit-learn==99.0",
             "ERROR: Could not find a version that satisfies the requirement scikit-learn==99.0 (from versions: 1.9.1)",
             "ERROR: No matching distribution found for scikit-learn==99.0",
             "[notice] A new release of pip is available: 23.0.1 -> 26.3",
             "hint: See above for output from the failure."]
    assert failing_line(lines).startswith("ERROR: Could not find a version that satisfies the requirement")


def test_a_cause_over_the_errors_that_follow_from_it():
    lines = ["WARNING: Retrying (Retry(total=4)) after connection broken by 'SSLError(SSLCertVerificationError(1, "
             "'[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed'))': /simple/fastapi/",
             "ERROR: No matching distribution found for fastapi==0.165.0"]
    assert "CERTIFICATE_VERIFY_FAILED" in failing_line(lines)
    assert failing_line(["/bin/sh: 1: pip: not found"]) == "/bin/sh: 1: pip: not found"


def test_bookkeeping_is_never_the_failing_line_and_a_fallback_stands_in_for_nothing():
    assert is_bookkeeping("Step ID: smoke marked as failed (elapsed time in seconds: 0.9)")
    assert is_bookkeeping("#7 ERROR: executor failed running [/bin/sh -c exit 3]: exit code: 3")
    assert not is_bookkeeping("#7 ERROR: failed to compute cache key: \"/requirements.txt\" not found")
    assert failing_line(["Executing step ID: a. Timeout(sec): 600", "checking",
                         "Step ID: a marked as failed (elapsed time in seconds: 0.1)"]) == "checking"
    assert failing_line([], fallback="exit code: 3") == "exit code: 3"
    assert failing_line(["  ", "hint: nothing"], fallback="f") == "f"


def test_colour_codes_and_vertex_numbers_are_cleaned():
    assert clean("#5 \x1b[31merror: bad\x1b[0m  ") == "error: bad"
    assert failing_line(["#5 ok", "#5 \x1b[31merror: bad\x1b[0m"]) == "error: bad"
