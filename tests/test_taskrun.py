"""Task runs on the real engine: each execution rule, pushes read back from the registry, secrets."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import uuid

import docker
import pytest

import acrmagic
from conftest import registry_digest

pytestmark = pytest.mark.engine

V = "version: v1.1.0\n"


def run_task(yaml: str, ctx, **kw):
    return acrmagic.run(yaml, context=str(ctx), **kw)


def step(run, sid):
    return next(s for s in run.steps if s.name == sid)


def leftovers(run):
    """Containers and volumes of this run still on the engine."""
    client = docker.from_env()
    assert run.cancel_ref and run.cancel_ref.startswith("task:")
    label = f"org.acrmagic.instance={run.cancel_ref.split(':', 1)[1]}"
    return (client.containers.list(all=True, filters={"label": label}),
            client.volumes.list(filters={"label": label}))


def test_build_serve_smoke_test_push(make_context):
    ctx = make_context({
        "Dockerfile": "FROM busybox\nCOPY index.html /www/health\nCMD [\"httpd\", \"-f\", \"-p\", \"18080\", \"-h\", \"/www\"]\n",
        "index.html": "healthy\n"})
    repo = f"scorer-{uuid.uuid4().hex[:8]}"
    run = run_task(V + f"""steps:
  - build: -t $Registry/{repo}:$ID -f Dockerfile .
  - id: serve
    cmd: $Registry/{repo}:$ID
    detach: true
    ports: ["18080:18080"]
  - id: smoke
    cmd: busybox sh -c 'for i in $(seq 20); do wget -q -O- http://serve:18080/health && exit 0; sleep 0.2; done; exit 1'
  - push: ["$Registry/{repo}:$ID"]
""", ctx)
    assert run.run_type == "QuickRun" and run.status == "Succeeded"
    [image] = run.output_images
    assert image.tag == run.run_id and image.digest == registry_digest(repo, run.run_id)
    assert "healthy" in run.log()
    assert [s.status for s in run.steps] == ["succeeded"] * 4
    assert step(run, "acb_step_3").extra["images"][0]["digest"] == image.digest
    assert leftovers(run) == ([], [])


def test_push_happens_only_if_the_smoke_test_passed(make_context):
    repo = f"gated-{uuid.uuid4().hex[:8]}"
    ctx = make_context({"Dockerfile": "FROM busybox\n"})
    with pytest.raises(acrmagic.RunFailed) as info:
        run_task(V + f"""steps:
  - build: -t $Registry/{repo}:$ID .
  - id: test
    cmd: busybox sh -c 'echo checking; echo model missing >&2; exit 4'
  - push: ["$Registry/{repo}:$ID"]
""", ctx)
    run = info.value.run
    assert run.error == "failed to run step ID: test: exit status 4"
    assert "model missing" in info.value.details and "checking" in info.value.details
    assert step(run, "test").exit_code == 4 and step(run, "acb_step_2").status == "skipped"
    assert run.output_images == [] and registry_digest(repo, run.run_id) is None


def test_parallel_steps_overlap(make_context):
    steps = "".join(f"  - id: s{i}\n    cmd: busybox sleep 2\n    when: [\"-\"]\n" for i in range(4))
    t0 = time.monotonic()
    run = run_task(V + "steps:\n" + steps, make_context({}))
    took = time.monotonic() - t0
    starts = sorted(step(run, f"s{i}").extra["startTime"] for i in range(4))
    finishes = sorted(step(run, f"s{i}").extra["finishTime"] for i in range(4))
    assert starts[-1] < finishes[0]  # every step started before any finished
    assert took < 8


def test_fail_fast_kills_a_running_sibling(make_context):
    t0 = time.monotonic()
    with pytest.raises(acrmagic.RunFailed) as info:
        run_task(V + """steps:
  - id: slow
    cmd: busybox sleep 60
    when: ["-"]
  - id: broken
    cmd: busybox sh -c 'sleep 1; exit 2'
    when: ["-"]
  - id: after
    cmd: busybox echo never
    when: [slow, broken]
""", make_context({}))
    assert time.monotonic() - t0 < 20
    run = info.value.run
    assert step(run, "broken").status == "failed" and step(run, "slow").status == "canceled"
    assert step(run, "after").status == "skipped" and "never" not in run.log()
    assert leftovers(run) == ([], [])


def test_step_timeout_is_one_deadline(make_context):
    t0 = time.monotonic()
    with pytest.raises(acrmagic.RunFailed, match="context deadline exceeded") as info:
        run_task(V + "steps:\n  - id: a\n    cmd: busybox sleep 30\n    timeout: 2\n    retries: 3\n", make_context({}))
    assert time.monotonic() - t0 < 15
    assert step(info.value.run, "a").extra["attempts"] == 1


def test_retries_and_repeat_with_a_shared_workspace(make_context):
    run = run_task(V + """steps:
  - id: flaky
    cmd: busybox sh -c 'test -f /workspace/once || { touch /workspace/once; echo first try fails; exit 1; }'
    retries: 2
    retryDelay: 1
  - id: thrice
    cmd: busybox sh -c 'echo x >> /workspace/count'
    repeat: 2
  - id: check
    cmd: busybox sh -c 'test $(wc -l < /workspace/count) -eq 3'
""", make_context({}))
    assert step(run, "flaky").extra["attempts"] == 2 and step(run, "thrice").extra["attempts"] == 3
    assert run.status == "Succeeded"


def test_env_workdir_entrypoint_user_and_files_from_context(make_context):
    ctx = make_context({"sub/data.txt": "from-context\n"})
    run = run_task(V + """env: ["STAGE=dev"]
steps:
  - id: look
    cmd: busybox -c 'echo $STAGE $HOME $(pwd) $(id -u) $(cat data.txt)'
    entryPoint: sh
    workingDirectory: sub
    user: "1234"
""", ctx)
    assert "dev /acb/home /workspace/sub 1234 from-context" in run.log()


def test_build_step_sees_files_an_earlier_step_wrote(make_context, engine):
    ctx = make_context({"Dockerfile": "FROM busybox\nCOPY generated.txt /\n"})
    repo = f"gen-{uuid.uuid4().hex[:8]}"
    run_task(V + f"""steps:
  - cmd: busybox sh -c 'echo made-by-step > /workspace/generated.txt'
  - build: -t {repo}:1 .
""", ctx)
    assert engine.containers.run(f"{repo}:1", ["cat", "/generated.txt"], remove=True, network_mode="host") == b"made-by-step\n"


def test_secret_volume_mounted_as_files(make_context):
    value = base64.b64encode(b"pa55").decode()
    run = run_task(V + f"""volumes:
  - name: creds
    secret:
      token.txt: {value}
steps:
  - cmd: busybox cat /run/creds/token.txt
    volumeMounts:
      - name: creds
        mountPath: /run/creds
""", make_context({}))
    assert "pa55" in run.log()


def test_set_secret_never_recorded(make_context, home, capsys):
    secret = "tok-" + uuid.uuid4().hex
    run = run_task(V + "steps:\n  - cmd: busybox echo token={{.Values.token}} plain={{.Values.plain}}\n",
                   make_context({}), set={"plain": "visible"}, set_secret={"token": secret})
    assert "token=*** plain=visible" in run.log()
    assert secret not in capsys.readouterr().out
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert run.request["setSecret"] == ["token"]


def test_ignore_errors_and_per_step_logs(make_context, home):
    run = run_task(V + """steps:
  - id: optional
    cmd: busybox sh -c 'echo soft-fail; exit 9'
    ignoreErrors: true
  - id: next
    cmd: busybox echo still-ran
""", make_context({}))
    assert run.status == "Succeeded" and "still-ran" in run.log()
    assert step(run, "optional").error == "exit status 9"
    assert "soft-fail" in (home / "logs" / run.run_id / "optional.log").read_text().splitlines()


def test_bad_task_file_is_one_line_and_records_nothing(make_context):
    with pytest.raises(acrmagic.TaskFileError) as info:
        run_task(V + "steps:\n  - cmd: busybox true\n    timeout: soon\n", make_context({}))
    assert str(info.value) == "<cell>:4:14: yaml: unmarshal errors: cannot unmarshal !!str `soon` into int"
    with pytest.raises(acrmagic.TaskFileError, match=r"step b: a does not exist as a vertex"):
        run_task(V + "steps:\n  - id: b\n    cmd: x\n    when: [a]\n  - id: a\n    cmd: y\n", make_context({}))
    assert acrmagic.runs() == []


def test_unknown_image_fails_the_step(make_context):
    with pytest.raises(acrmagic.RunFailed, match="cannot pull localhost:5000/no-such-image") as info:
        run_task(V + "steps:\n  - id: x\n    cmd: localhost:5000/no-such-image:1 true\n", make_context({}))
    assert step(info.value.run, "x").status == "failed"


def test_dry_run_runs_nothing(make_context):
    plan = acrmagic.run(V + "steps:\n  - cmd: busybox echo {{.Values.x}}\n", context=str(make_context({})),
                        set={"x": "planned"}, dry_run=True)
    assert "busybox echo planned" in repr(plan) and plan.levels == [["acb_step_0"]]
    assert acrmagic.runs() == []


def test_ctrl_c_cancels_a_task_run(make_context, home, tmp_path):
    task = tmp_path / "task.yaml"
    task.write_text(V + "steps:\n  - id: long\n    cmd: busybox sh -c 'echo started-long; sleep 60'\n")
    proc = subprocess.Popen([sys.executable, "-m", "acrmagic", "run", "-f", str(task), str(make_context({}))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    for line in proc.stdout:
        if "started-long" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "canceled" in err
    [run] = acrmagic.runs()
    assert run.status == "Canceled" and run.steps[0].status == "canceled"
    assert leftovers(run) == ([], [])


def test_run_timeout_records_timeout(make_context):
    with pytest.raises(acrmagic.RunTimedOut) as info:
        run_task(V + "steps:\n  - cmd: busybox sleep 60\n", make_context({}), timeout=2)
    assert info.value.run.status == "Timeout"


def test_a_build_steps_tags_key_is_what_is_built_and_cache_enabled_runs(make_context):
    """`tags:` on a build step (which acr-builder reads for digests, overriding the -t flags it parsed)
    tags the image too, beside the -t that docker builds with; `cache: enabled` plans buildx's registry
    cache flags, which the local engine accepts (its own BuildKit cache serves)."""
    repo = f"tagged-{uuid.uuid4().hex[:8]}"
    run = run_task(V + f"""steps:
  - id: build
    build: -t $Registry/{repo}:from-flag .
    tags: ["$Registry/{repo}:from-key"]
    cache: enabled
  - push: ["$Registry/{repo}:from-key"]
""", make_context({"Dockerfile": "FROM busybox\nRUN echo cached-build > /x\n"}))
    assert run.status == "Succeeded"
    assert registry_digest(repo, "from-key") == run.output_images[0].digest
    assert registry_digest(repo, "from-flag") is None  # built, not pushed: the push step names from-key
    assert "registry cache is ACR's" in run.log()
    key = docker.from_env().images.get(f"localhost:5000/{repo}:from-key")
    assert docker.from_env().images.get(f"localhost:5000/{repo}:from-flag").id == key.id


def test_a_last_line_without_a_newline_is_never_lost(make_context):
    """dockerd 20.10's followed log stream can drop an unterminated last line (`wget -O-` of JSON)."""
    runs = [run_task(V + "steps:\n  - id: say\n    cmd: busybox printf 'first\\nno-newline-%s' $ID\n", make_context({}))
            for _ in range(8)]
    for run in runs:
        assert f"[say] no-newline-{run.run_id}" in run.log().splitlines()


def test_a_detached_steps_output_is_in_the_run_log(make_context):
    run = run_task(V + """steps:
  - id: serve
    cmd: busybox sh -c 'echo serving; echo to-stderr >&2; sleep 30'
    detach: true
  - id: after
    cmd: busybox sh -c 'sleep 1; echo checked'
""", make_context({}))
    assert run.status == "Succeeded" and step(run, "serve").status == "succeeded"
    log = run.log()
    assert "[serve] serving" in log and "[serve] to-stderr" in log and "[after] checked" in log
    assert leftovers(run) == ([], [])


def test_a_detached_server_that_crashes_fails_its_step_with_its_last_lines(make_context):
    repo = f"crashing-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    with pytest.raises(acrmagic.RunFailed) as info:
        run_task(V + f"""steps:
  - build: -t $Registry/{repo}:$ID .
  - id: serve
    cmd: "busybox sh -c 'echo loading model; sleep 1; echo error: model.joblib is missing >&2; exit 3'"
    detach: true
  - id: smoke
    cmd: busybox sh -c 'for i in $(seq 100); do wget -q -O- http://serve:18981/health && exit 0; sleep 0.3; done; exit 1'
  - push: ["$Registry/{repo}:$ID"]
""", make_context({"Dockerfile": "FROM busybox\n"}))
    assert time.monotonic() - t0 < 25  # the smoke test's 30 s of retries are cut short
    run = info.value.run
    assert run.error == ("failed to run step ID: serve: exited with code 3 before the run ended: "
                         "error: model.joblib is missing")
    serve = step(run, "serve")
    assert serve.status == "failed" and serve.exit_code == 3
    assert step(run, "smoke").status == "canceled" and step(run, "acb_step_3").status == "skipped"
    assert "loading model" in info.value.details  # the server's last lines, under the headline
    assert run.output_images == [] and registry_digest(repo, run.run_id) is None
    assert leftovers(run) == ([], [])
