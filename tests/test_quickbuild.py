"""Quick builds on the real engine, pushed to the real registry on localhost:5000."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

import acrmagic
from acrmagic.runs.store import RunStore
from conftest import registry_digest, run_in_image

pytestmark = pytest.mark.engine


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def test_build_and_push_records_digest_read_back_from_registry(make_context, engine):
    repo = unique("qb")
    ctx = make_context({"app.txt": "hello\n"})
    run = acrmagic.build("FROM busybox\nCOPY app.txt /app.txt\nCMD [\"cat\", \"/app.txt\"]\n",
                         image=f"{repo}:{{{{.Run.ID}}}}", context=str(ctx))
    assert run.status == "Succeeded"
    assert run.run_type == "QuickBuild" and run.trigger == "Manual" and run.backend == "local"
    [out] = run.output_images
    assert (out.registry, out.repository, out.tag) == ("localhost:5000", repo, run.run_id)
    assert out.digest == registry_digest(repo, run.run_id)
    assert run.source["type"] == "folder" and run.source["digest"].startswith("sha256:")
    assert run.base_images[0]["image"] == "docker.io/library/busybox:latest"
    assert run.base_images[0]["digest"] == registry_digest("library/busybox", "latest", "localhost:5001")
    stored = RunStore().get(run.run_id)
    assert stored.to_dict() == {**run.to_dict(), "durationSeconds": stored.duration}
    assert run_in_image(engine, f"localhost:5000/{repo}:{run.run_id}") == "hello\n"
    assert "pushed localhost:5000/" in run.log()


def test_docker_sdk_transport_builds_and_pushes_too(make_context, monkeypatch):
    """The SDK transport serves DOCKER_HOST values the socket client does not (ssh://, TLS)."""
    monkeypatch.setenv("ACRMAGIC_ENGINE_CLIENT", "sdk")
    repo = unique("sdk")
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo via-sdk\n"})
    run = acrmagic.build(image=f"{repo}:1", context=str(ctx))
    assert run.backend == "local" and "via-sdk" in run.log()
    assert run.output_images[0].digest == registry_digest(repo, "1")


def test_registry_alias_and_several_tags(make_context):
    repo = unique("tags")
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo built\n"})
    run = acrmagic.build(image=[f"$Registry/{repo}:$ID", f"{repo}:latest"], context=str(ctx))
    assert [o.tag for o in run.output_images] == [run.run_id, "latest"]
    assert all(o.digest == registry_digest(repo, o.tag) for o in run.output_images)


def test_no_tag_means_no_push_and_no_push_flag(make_context):
    ctx = make_context({"Dockerfile": "FROM busybox\n"})
    assert acrmagic.build(context=str(ctx)).output_images == []
    repo = unique("nopush")
    run = acrmagic.build(image=f"{repo}:1", context=str(ctx), push=False)
    assert run.output_images == [] and registry_digest(repo, "1") is None


def test_cached_rebuild_reports_cached_steps(make_context):
    ctx = make_context({"Dockerfile": f"FROM busybox\nRUN echo {uuid.uuid4().hex} > /n\n"})
    first = acrmagic.build(context=str(ctx))
    second = acrmagic.build(context=str(ctx))
    run_steps = lambda r: [s for s in r.steps if "RUN echo" in s.name]  # noqa: E731
    assert [s.cached for s in run_steps(first)] == [False]
    assert [s.cached for s in run_steps(second)] == [True]
    assert "CACHED" in second.log()


def test_dockerignore_is_honoured(make_context, engine):
    ctx = make_context({".dockerignore": "secrets/\n*.log\n!keep.log\n", "secrets/key": "k", "a.log": "x",
                        "keep.log": "y", "app.py": "print(1)"})
    repo = unique("ignore")
    acrmagic.build("FROM busybox\nCOPY . /ctx\n", image=f"{repo}:1", context=str(ctx))
    listing = run_in_image(engine, f"localhost:5000/{repo}:1", "find", "/ctx", "-type", "f").split()
    assert sorted(listing) == ["/ctx/.dockerignore", "/ctx/app.py", "/ctx/keep.log"]


def test_build_args_and_target(make_context, engine):
    ctx = make_context({})
    dockerfile = ("FROM busybox AS base\nARG GREETING=hi\nRUN echo $GREETING > /g\n"
                  "FROM base AS final\nRUN echo final > /f\n")
    repo = unique("args")
    run = acrmagic.build(dockerfile, image=f"{repo}:1", context=str(ctx), build_args={"GREETING": "hello world"},
                         target="base")
    assert run_in_image(engine, f"localhost:5000/{repo}:1", "cat", "/g") == "hello world\n"
    assert not any("final" in s.name for s in run.steps)
    assert [b["image"] for b in run.base_images] == ["docker.io/library/busybox:latest"]


def test_secret_build_arg_never_recorded(make_context, home, capsys):
    secret = "s3cr3t-" + uuid.uuid4().hex
    ctx = make_context({})
    run = acrmagic.build("FROM busybox\nARG TOKEN\nRUN echo token is $TOKEN\n", context=str(ctx),
                         secret_build_args={"TOKEN": secret}, build_args={"PLAIN": "visible"})
    assert "token is ***" in run.log()
    assert secret not in run.log() and secret not in capsys.readouterr().out
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert run.request["secretBuildArgs"] == ["TOKEN"] and run.request["buildArgs"] == {"PLAIN": "visible"}


def test_secret_absent_from_failure_message(make_context):
    secret = "hunter2-" + uuid.uuid4().hex
    ctx = make_context({})
    with pytest.raises(acrmagic.RunFailed) as info:
        acrmagic.build("FROM busybox\nARG TOKEN\nRUN echo $TOKEN && exit 4\n", context=str(ctx),
                       secret_build_args={"TOKEN": secret})
    assert secret not in str(info.value) and secret not in "".join(info.value._render_traceback_())
    assert secret not in info.value.run.log()


def test_git_url_context(tmp_path):
    repo = tmp_path / "src"
    (repo / "svc").mkdir(parents=True)
    (repo / "svc" / "Dockerfile").write_text("FROM busybox\nCOPY hello.txt /\n")
    (repo / "svc" / "hello.txt").write_text("from git\n")
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q", "-b", "main")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "init")
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    run = acrmagic.build(context=f"file://{repo}#main:svc")
    assert run.source["type"] == "git" and run.source["commit"] == commit and run.source["subdir"] == "svc"


# -- bad input: one clear line, a recorded run where a run began -----------------------------------

def test_empty_cell_is_a_usage_error_and_records_nothing(make_context):
    with pytest.raises(acrmagic.UsageError, match="cell is empty"):
        acrmagic.build("\n   \n", context=str(make_context({})))
    assert acrmagic.runs() == []


def test_missing_context_folder():
    with pytest.raises(acrmagic.ContextError, match="--context: no such folder: /nonexistent/ctx"):
        acrmagic.build("FROM busybox\n", context="/nonexistent/ctx")


def test_dockerfile_syntax_error_is_recorded(make_context):
    with pytest.raises(acrmagic.RunFailed, match="unknown instruction: FROMM") as info:
        acrmagic.build("FROMM busybox\n", context=str(make_context({})))
    run = acrmagic.show(info.value.run.run_id)
    assert run.status == "Failed" and "FROMM" in run.error and run.finish_time


def test_unknown_base_image(make_context):
    with pytest.raises(acrmagic.RunFailed, match="nope-not-here") as info:
        acrmagic.build("FROM localhost:5000/nope-not-here:1\n", context=str(make_context({})))
    assert acrmagic.show(info.value.run.run_id).status == "Failed"


def test_failing_run_step_gives_exit_code_and_log_tail(make_context):
    with pytest.raises(acrmagic.RunFailed) as info:
        acrmagic.build("FROM busybox\n\n# then\nRUN echo line-one && echo error: line-two >&2 && exit 3\n",
                       image=unique("fail") + ":1", context=str(make_context({})))
    err = info.value
    # the instruction by its line in the cell, its exit code, and the line that says why, once
    assert err.message.endswith("line 4 of the cell (RUN echo line-one && echo error: line-two >&2 && exit 3) "
                                "failed with exit code 3: error: line-two")
    assert err.details == ["line-one"]  # the rest of the tail: the error line is in the headline already
    rendered = err._render_traceback_()
    assert "RunFailed" in rendered[0] and rendered[-1].strip() == err.details[-1]
    assert err.run.output_images == []  # nothing pushed
    step = next(s for s in err.run.steps if "exit 3" in s.name)
    assert step.status == "failed" and step.exit_code == 3


def test_a_failing_dockerfile_file_is_named_by_its_path(make_context):
    ctx = make_context({"docker/Build.dockerfile": "FROM busybox\nRUN echo fine\nRUN exit 4\n"})
    with pytest.raises(acrmagic.RunFailed) as info:
        acrmagic.build(file="docker/Build.dockerfile", context=str(ctx), image=unique("failfile") + ":1")
    assert "line 3 of docker/Build.dockerfile (RUN exit 4) failed with exit code 4" in info.value.message


def test_engine_unreachable_says_how_to_start(make_context, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/no-such-engine.sock")
    with pytest.raises(acrmagic.EngineUnavailable, match=r"no-such-engine.sock.*\./dev stack"):
        acrmagic.build("FROM busybox\n", context=str(make_context({})))


def test_an_engine_gone_since_it_answered_says_how_to_start_and_records_no_run(make_context, monkeypatch, tmp_path):
    # the process asks the engine whether it answers only the first time (connect); a later build's first
    # request, the leftovers sweep, finds it gone, before the run is recorded
    from acrmagic.targets.local.engine import DEFAULT_HOST, connect

    link = tmp_path / "engine.sock"
    link.symlink_to(DEFAULT_HOST[len("unix://"):])  # the stack's engine, under a name this test can take away
    monkeypatch.setenv("DOCKER_HOST", f"unix://{link}")
    connect()
    link.unlink()
    recorded = [r.run_id for r in acrmagic.runs()]
    with pytest.raises(acrmagic.EngineUnavailable, match=r"engine.sock.*\./dev stack"):
        acrmagic.build("FROM busybox\n", context=str(make_context({})))
    assert [r.run_id for r in acrmagic.runs()] == recorded


def test_registry_unreachable_during_push(make_context):
    repo = unique("unreach")
    with pytest.raises(acrmagic.RunFailed, match="push of localhost:5999/") as info:
        acrmagic.build("FROM busybox\nRUN echo x\n", image=f"{repo}:1", registry="localhost:5999",
                       context=str(make_context({})))
    run = acrmagic.show(info.value.run.run_id)
    assert run.status == "Failed" and run.output_images == []


def test_bad_image_name_is_a_usage_error(make_context):
    with pytest.raises(acrmagic.UsageError, match="-t/--image: 'Bad Name' is not a valid image name"):
        acrmagic.build("FROM busybox\n", image="Bad Name", context=str(make_context({})))


# -- cancel and timeout -----------------------------------------------------------------------------

SLOW = "FROM busybox\nRUN echo {nonce} && echo started-sleeping && sleep 60\n"


def test_timeout_records_timeout(make_context):
    t0 = time.monotonic()
    with pytest.raises(acrmagic.RunTimedOut) as info:
        acrmagic.build(SLOW.format(nonce=uuid.uuid4().hex), context=str(make_context({})), timeout=3)
    assert time.monotonic() - t0 < 30
    run = acrmagic.show(info.value.run.run_id)
    assert run.status == "Timeout" and "--timeout 3s" in run.error


def test_cancel_from_another_caller(make_context):
    ctx = make_context({})
    result = {}

    def canceller():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = acrmagic.runs(status="Running")
            if running and "started-sleeping" in running[0].log():
                result["canceled"] = acrmagic.cancel(running[0].run_id)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=canceller)
    thread.start()
    t0 = time.monotonic()
    with pytest.raises(acrmagic.RunCanceled) as info:
        acrmagic.build(SLOW.format(nonce=uuid.uuid4().hex), context=str(ctx))
    thread.join()
    assert time.monotonic() - t0 < 40
    assert result["canceled"].run_id == info.value.run.run_id
    assert acrmagic.show(info.value.run.run_id).status == "Canceled"


def test_ctrl_c_cancels_the_build_and_records_canceled(make_context, home):
    ctx = make_context({"Dockerfile": SLOW.format(nonce=uuid.uuid4().hex)})
    proc = subprocess.Popen([sys.executable, "-m", "acrmagic", "build", str(ctx)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ})
    for line in proc.stdout:
        if "started-sleeping" in line:
            break
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 20
    assert proc.returncode == 1 and "canceled by the user" in err
    [run] = acrmagic.runs()
    assert run.status == "Canceled"
    assert any(s.status == "canceled" for s in run.steps)


def test_a_base_image_that_is_an_offline_stand_in_is_said_and_recorded(make_context):
    run = acrmagic.build("FROM python:3.11-slim\nRUN true\n", context=str(make_context({})), push=False)
    [base] = run.base_images
    assert base["image"] == "docker.io/library/python:3.11-slim" and "offline" in base["standIn"]
    assert f"base image {base['image']}@{base['digest']} (offline stand-in: {base['standIn']})" in run.log()
    other = acrmagic.build("FROM scratch\nCOPY . /\n", context=str(make_context({"a.txt": "a"})), push=False)
    assert other.base_images == [] and "offline stand-in" not in other.log()
