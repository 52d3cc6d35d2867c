"""View state without a browser: steps, bounded tails, throttled updates, replay, the history table."""

from __future__ import annotations

import pytest

from acrmagic.events import LogEvent, StepEvent
from acrmagic.runs.model import OutputImage, Run
from acrmagic.runs.store import RunStore
from acrmagic.views.history import History
from acrmagic.views.run_view import FULL_LOG_LINES, STEP_TAIL, RunView


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def count_messages(widget) -> list:
    sent = []
    original = widget.comm.send

    def send(*args, **kwargs):
        sent.append(kwargs.get("data") or (args[0] if args else None))
        return original(*args, **kwargs)

    widget.comm.send = send
    return sent


def make_run(store: RunStore, status="Running", steps=()) -> Run:
    run = store.create(Run(run_id=""))
    run.status, run.start_time = status, "2026-11-27T00:00:00+00:00"
    run.steps = list(steps)
    store.save(run)
    return run


def test_100k_log_lines_make_few_messages_and_bounded_state(home):
    clock = FakeClock()
    view = RunView(clock=clock)
    run = make_run(RunStore())
    view.start(run)
    sent = count_messages(view)
    view.event(StepEvent("[1/2] RUN make", "running", 1), "#1 [1/2] RUN make")
    for i in range(100_000):  # 10 seconds of streaming at 10,000 lines a second
        clock.now += 0.0001
        view.event(LogEvent(f"line {i}", step="[1/2] RUN make", number=1), f"#1 line {i}")
    view.event(StepEvent("[1/2] RUN make", "succeeded", 1, duration=10.0), "#1 DONE 10.0s")
    run.status = "Succeeded"
    view.finish(run)  # the last state is always sent
    assert 10 * 10 <= len(sent) <= 10 * 10 + 5  # about 10 updates a second, not one per line
    [step] = view.steps
    assert step["lines"] == 100_000 and step["status"] == "succeeded"
    assert step["tail"] == [f"line {i}" for i in range(100_000 - STEP_TAIL, 100_000)]
    assert len(str(view.steps)) < 5_000


def test_finish_shows_images_error_and_failing_line(home):
    view = RunView()
    run = make_run(RunStore())
    view.start(run)
    view.event(StepEvent("[2/2] RUN false", "running", 2), "")
    view.event(LogEvent("about to fail", step="[2/2] RUN false", number=2), "#2 about to fail")
    view.event(StepEvent("[2/2] RUN false", "failed", 2, duration=0.5, error="exit code: 3", exit_code=3), "")
    run.status, run.error = "Failed", "step [2/2] RUN false failed with exit code 3"
    run.output_images = [OutputImage("localhost:5000", "app", "1", "sha256:" + "a" * 64)]
    view.finish(run)
    assert view.status == "Failed" and view.error_line == "about to fail"
    assert view.images == ["localhost:5000/app:1@sha256:" + "a" * 64]
    assert view.steps[0]["exit_code"] == 3
    assert "Failed" in view.summary_text() and "exit 3" in view.summary_text()
    assert "<table>" in view.summary_html()


def test_expanding_a_step_reads_its_full_log_from_disk(home):
    store = RunStore()
    run = make_run(store)
    with open(run.log_path, "w") as f:
        for i in range(FULL_LOG_LINES + 10):
            f.write(f"[serve] line {i}\n[other] noise\n")
    view = RunView()
    view.start(run)
    view.event(LogEvent("line x", step="serve", number=3, label="[serve]"), "[serve] line x")
    view.expanded = 3
    assert len(view.full_log) == FULL_LOG_LINES and view.full_log[-1] == f"line {FULL_LOG_LINES + 9}"
    assert all(line.startswith("line ") for line in view.full_log)


def test_replay_a_recorded_task_run(home):
    from acrmagic.events import StepRecord

    store = RunStore()
    run = make_run(store, status="Succeeded", steps=[StepRecord("build", 1, "succeeded", duration=1.0),
                                                      StepRecord("test", 2, "failed", exit_code=4)])
    run.finish_time = "2026-11-27T00:00:05+00:00"
    store.save(run)
    with open(run.log_path, "w") as f:
        f.write("[build] compiling\n[test] checking\n[test] broken\nRun la1: Succeeded\n")
    view = RunView.replay(store.get(run.run_id))
    assert not view.live and view.status == "Succeeded"
    assert [(s["name"], s["status"], s["tail"]) for s in view.steps] == [
        ("build", "succeeded", ["compiling"]), ("test", "failed", ["checking", "broken"])]
    assert view.finished - view.started == pytest.approx(5.0)


def test_history_pages_filters_and_cancel(home):
    store = RunStore()
    for i in range(120):
        make_run(store, status="Failed" if i % 3 == 0 else "Succeeded")
    running = make_run(store, status="Running")
    history = History()
    table = history.table
    assert table.total == 121 and len(table.rows) == 50 and table.rows[0]["run_id"] == running.run_id
    table.page = 2
    assert len(table.rows) == 21
    table.status_filter = "Failed"
    assert table.total == 40 and table.page == 0 and {r["status"] for r in table.rows} == {"Failed"}
    table.status_filter, table.text_filter = "", running.run_id
    assert [r["run_id"] for r in table.rows] == [running.run_id]
    table.cancel_run = running.run_id
    assert store.cancel_requested(running.run_id) and "cancel requested" in table.message
    table.selected = running.run_id  # replays into the detail area (no error)
    assert table.message.startswith("cancel requested")
    assert running.run_id in repr(history)


def test_the_view_shows_why_a_run_happened(home):
    store = RunStore()
    run = make_run(store, status="Succeeded")
    run.trigger, run.task = "Image Update", "scorer"
    run.trigger_details = {"id": "f1", "images": [{"registry": "localhost:5001", "repository": "library/python",
                                                   "tag": "3.11-slim", "previousDigest": "sha256:" + "a" * 64,
                                                   "newDigest": "sha256:" + "b" * 64}]}
    store.save(run)
    view = RunView.replay(store.get(run.run_id))
    assert view.trigger == ("task scorer: base image update (library/python:3.11-slim sha256:aaaaaaaaaaaa -> "
                            "sha256:bbbbbbbbbbbb)")
    assert store.get(run.run_id).to_dict()["imageUpdateTrigger"]["images"][0]["newDigest"].endswith("b" * 64)


def test_rows_follow_the_dockerfile_then_the_push(home):
    view = RunView()
    view.start(make_run(RunStore()))
    for number, name in [(1, "[internal] load build definition from Dockerfile"), (2, "[3/3] RUN python -m pip"),
                         (3, "[1/3] FROM docker.io/library/python:3.11-slim"), (4, "[2/3] COPY requirements.txt ."),
                         (0, "exporting to image")]:
        view.event(StepEvent(name, "succeeded", number), "")
    for text in ("push localhost:5000/app:1: 1a2b Pushed", "push localhost:5000/app:1: 3c4d Layer already exists"):
        view.event(LogEvent(text), text)
    view.flush(force=True)
    assert view.steps[-1]["status"] == "running" and view.steps[-1]["progress"] == "2 layers pushed"
    view.event(LogEvent("pushed localhost:5000/app:1@sha256:" + "c" * 64), "")
    view.flush(force=True)
    assert [s["name"] for s in view.steps] == [
        "[internal] load build definition from Dockerfile", "[1/3] FROM docker.io/library/python:3.11-slim",
        "[2/3] COPY requirements.txt .", "[3/3] RUN python -m pip", "exporting to image", "push localhost:5000/app:1"]
    push = view.steps[-1]
    assert push["status"] == "succeeded" and push["last"] == "sha256:" + "c" * 64 and push["tail"][0] == "1a2b Pushed"
    assert view.log_tail == []  # push lines are on the push row, not in the run's own log


def test_a_cmd_step_shows_its_last_line_on_its_row(home):
    from acrmagic.events import StepRecord

    run = make_run(RunStore(), steps=[StepRecord("smoke", 1, extra={"type": "cmd", "level": 0}),
                                      StepRecord("build", 2, extra={"type": "build", "level": 0})])
    view = RunView()
    view.start(run)
    for step, number in (("smoke", 1), ("build", 2)):
        view.event(StepEvent(step, "running", number), "")
        view.event(LogEvent("waiting", step=step, number=number), "")
        view.event(LogEvent('{"prediction": [0]}', step=step, number=number), "")
        view.event(LogEvent(f"Step ID: {step} marked as successful (elapsed time in seconds: 0.4)", step=step,
                            number=number), "")
        view.event(StepEvent(step, "succeeded", number), "")
    view.flush(force=True)
    assert [(s["name"], s["last"]) for s in view.steps] == [("smoke", '{"prediction": [0]}'), ("build", "")]


def test_a_replayed_running_run_is_followed_to_its_end(home):
    import time

    from acrmagic.events import StepRecord
    from acrmagic.views import run_view

    store = RunStore()
    run = make_run(store, status="Running", steps=[StepRecord("test", 1, "running")])
    with open(run.log_path, "w") as f:
        f.write("[test] first\n")
    run_view.FOLLOW_SECONDS, saved = 0.05, run_view.FOLLOW_SECONDS
    try:
        view = RunView.replay(store.get(run.run_id), read=store.get)
        assert view.status == "Running" and view.steps[0]["tail"] == ["first"]
        with open(run.log_path, "a") as f:
            f.write("[test] second\n")
        run.status, run.finish_time = "Succeeded", "2026-11-27T00:00:03+00:00"
        run.steps = [StepRecord("test", 1, "succeeded", duration=3.0)]
        store.save(run)
        deadline = time.monotonic() + 10
        while view.status != "Succeeded" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        run_view.FOLLOW_SECONDS = saved
    assert view.status == "Succeeded" and view.steps[0]["tail"] == ["first", "second"]
    assert view.steps[0]["status"] == "succeeded"
    view.close()


def test_history_rows_say_where_a_run_went_and_cut_digests_short(home):
    store = RunStore()
    local = make_run(store, status="Succeeded")
    local.output_images = [OutputImage("localhost:5000", "app", "1", "sha256:" + "d" * 64)]
    store.save(local)
    cloud = make_run(store, status="Failed")
    cloud.backend, cloud.registry = "acr", "myregistry.azurecr.io"
    store.save(cloud)
    rows = {r["run_id"]: r for r in History().table.rows}
    assert rows[local.run_id]["target"] == "local" and rows[cloud.run_id]["target"] == "ACR myregistry"
    assert rows[local.run_id]["images"] == [{"name": "app:1", "digest": "d" * 12,
                                            "ref": "localhost:5000/app:1@sha256:" + "d" * 64}]


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    import os

    from acrmagic.emulator.process import EmulatorProcess

    tmp = tmp_path_factory.mktemp("views-emulator")
    emu = EmulatorProcess(tmp, env={**os.environ, "ACRMAGIC_HOME": str(tmp / "home")})
    yield emu
    assert emu.stop() == 0


@pytest.mark.engine
def test_history_reads_running_acr_runs_again_and_the_replay_follows_the_registry(emulator, make_context):
    import time

    import acrmagic

    acrmagic.use(emulator=str(emulator.config_file))
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN for i in 1 2 3; do echo cloud-$i; sleep 1; done\n"})

    def until(done, what):
        deadline = time.monotonic() + 120
        while not done() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert done(), what

    # a run started in ACR that nothing here follows: the table's refresh reads it from the registry
    first = acrmagic.build(context=str(ctx), wait=False, no_cache=True)
    assert first.backend == "acr" and not first.finished
    history = History()

    def row():
        history.refresh()  # what auto-refresh does
        return next(r for r in history.table.rows if r["run_id"] == first.run_id)

    assert row()["target"] == "ACR acrmagic"
    until(lambda: row()["status"] == "Succeeded", "the row never showed the registry's status")
    assert RunStore().get(first.run_id).status == "Succeeded"
    # another, clicked while it goes: its replay follows it to the end, log read from the registry
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN for i in 1 2 3 4; do echo again-$i; sleep 1; done\n"})
    second = acrmagic.build(context=str(ctx), wait=False, no_cache=True)
    history.refresh()
    history.table.selected = second.run_id
    view = history._view
    assert view.run_id == second.run_id and not view.finished
    until(lambda: view.status == "Succeeded" and view.finished, f"the replay stopped at {view.status}")
    assert any("again-4" in line for s in view.steps for line in s["tail"]), view.steps
    view.close()


def test_a_multi_stage_build_lists_each_stage_in_file_order(home):
    run = make_run(RunStore())
    run.dockerfile = ("FROM python:3.11-slim AS Builder\nRUN make\n"
                      "FROM busybox\nCOPY --from=builder /out /\n")
    view = RunView()
    view.start(run)
    # BuildKit numbers the final stage's COPY before the builder's vertices
    for number, name in [(3, "[stage-1 2/2] COPY --from=builder /out /"), (4, "[builder 2/2] RUN make"),
                         (5, "[builder 1/2] FROM docker.io/library/python:3.11-slim"),
                         (6, "[stage-1 1/2] FROM docker.io/library/busybox")]:
        view.event(StepEvent(name, "succeeded", number), "")
    view.flush(force=True)
    assert [s["name"].split("]")[0] + "]" for s in view.steps] == [
        "[builder 1/2]", "[builder 2/2]", "[stage-1 1/2]", "[stage-1 2/2]"]
