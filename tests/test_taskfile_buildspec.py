"""Build steps as the executor needs them: Step.build_spec(), read as the docker CLI reads `build`."""

from __future__ import annotations

import pytest

from acrmagic.taskfile import RunInfo, load
from acrmagic.taskfile.buildspec import BuildSpec, parse

RUN = RunInfo(id="cb1", registry="myreg.azurecr.io")


def build_step(build: str, extra: str = ""):
    return load(f"version: v1.1.0\nsteps:\n  - id: b\n    build: {build}\n{extra}", RUN).task.steps[0]


def test_everything_the_executor_needs_is_in_the_spec():
    step = build_step("-t $Registry/web:$ID --tag=web:latest -tweb:x --build-arg V=1 --build-arg=W=2 "
                      "-f docker/Dockerfile --target final --platform linux/arm64 --no-cache --pull "
                      "--label org.x=1 --label flag --network host ./app",
                      "    env: [V=ignored]\n")
    assert step.build_spec() == BuildSpec(
        tags=["myreg.azurecr.io/web:cb1", "web:latest", "web:x"], build_args={"V": "1", "W": "2"},
        dockerfile="docker/Dockerfile", target="final", context="./app", platform="linux/arm64", no_cache=True,
        labels={"org.x": "1", "flag": ""}, pull=True, cache_ref=None, network="host")
    assert step.build_spec().refusal() is None


def test_acr_builders_own_reading_stays_in_the_plan():  # only the space-separated -t forms, for fidelity
    step = build_step("-t a:1 --tag=b:2 .")
    assert step.tags == ["a:1"] and step.build_spec().tags == ["a:1", "b:2"]


def test_a_bare_build_arg_takes_its_value_from_the_steps_env(monkeypatch):
    monkeypatch.setenv("FROM_KERNEL", "secret")  # never this process's environment
    step = build_step("--build-arg FROM_ENV --build-arg UNSET --build-arg FROM_KERNEL .",
                      "    env: [FROM_ENV=first, FROM_ENV=last]\n")
    assert step.build_spec().build_args == {"FROM_ENV": "last"}


def test_cache_enabled_keeps_the_acr_flags_in_the_plan_and_gives_the_ref():
    step = build_step("-t $Registry/app:$ID .", "    cache: enabled\n")
    ref = "myreg.azurecr.io/app:cache_quickrun_b"
    assert step.cache_ref == ref and step.to_dict()["cacheRef"] == ref
    assert step.build.startswith(f"--load --cache-to=type=registry,ref={ref},mode=max --cache-from=")
    spec = step.build_spec()
    assert spec.cache_ref == ref and spec.tags == ["myreg.azurecr.io/app:cb1"] and spec.refusal() is None
    assert build_step("-t a .").build_spec().cache_ref is None


def test_booleans_take_go_values():
    spec = parse("--no-cache=false --pull=1 -q --rm=true .")
    assert (spec.no_cache, spec.pull, spec.refusal()) == (False, True, None)
    assert "invalid boolean 'maybe' for --pull" in parse("--pull=maybe .").refusal()


@pytest.mark.parametrize("build,flags", [
    ("--ssh default .", ["--ssh"]), ("--secret id=x,src=y --squash .", ["--secret", "--squash"]),
    ("--cache-from r/a --bogus .", ["--cache-from", "--bogus"]), ("-qt x .", ["-qt"]),
])
def test_flags_the_local_runner_does_not_honour_are_listed(build, flags):
    spec = parse(build)
    assert spec.unknown_flags == flags
    line = spec.refusal()
    assert line.startswith("build flags not supported by the local runner: " + ", ".join(flags)) and "\n" not in line


@pytest.mark.parametrize("build,problem", [
    ("-t a", "requires exactly 1 argument (the context), got 0"),
    ("-t a ctx1 ctx2", "got 2: ctx1 ctx2"),
    ("-t", "flag needs an argument: -t"),
    ("-t 'unclosed .", "cannot split the build arguments like a shell"),
])
def test_what_docker_would_refuse(build, problem):
    assert problem in parse(build).refusal()


def test_the_context_after_a_boolean_flag_and_after_double_dash():
    assert parse("--pull https://github.com/a/b.git").context == "https://github.com/a/b.git"
    assert parse("-t a -- -weird-dir").context == "-weird-dir"
    assert parse("-").unknown_flags == ["- (a context read from stdin)"]
    assert parse("-t a .").dockerfile is None  # docker's default: <context>/Dockerfile
