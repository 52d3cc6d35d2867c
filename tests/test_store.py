"""The run store: IDs, concurrent writers, orphaned runs."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import acrmagic
from acrmagic.runs.model import Run
from acrmagic.acrspec import base36
from acrmagic.runs.store import RunStore


def test_ids_are_two_letters_and_a_base36_counter(home):
    store = RunStore()
    ids = [store.create(Run(run_id="")).run_id for _ in range(37)]
    assert ids[:3] == ["la1", "la2", "la3"] and ids[9] == "laa" and ids[35] == "la10"
    assert base36(36 * 36) == "100"


def _create_many(home: str, n: int, out) -> None:
    os.environ["ACRMAGIC_HOME"] = home
    store = RunStore()
    for _ in range(n):
        run = store.create(Run(run_id=""))
        run.status = "Succeeded"
        store.save(run)
        out.put(run.run_id)


def test_concurrent_processes_never_collide(home):
    RunStore()
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_create_many, args=(str(home), 25, queue)) for _ in range(4)]
    for p in procs:
        p.start()
    ids = [queue.get(timeout=60) for _ in range(100)]
    for p in procs:
        p.join()
    assert len(set(ids)) == 100
    runs = RunStore().list()
    assert len(runs) == 100 and {r.status for r in runs} == {"Succeeded"}


@pytest.mark.engine
def test_twenty_concurrent_builds_get_unique_ids_and_complete_records(make_context):
    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo concurrent\n"})
    results, errors = [], []

    def one(i):
        try:
            results.append(acrmagic.build(image=f"concurrent:{i}", context=str(ctx), logs=False))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = acrmagic.runs()
    assert len({r.run_id for r in stored}) == 20
    for run in stored:
        assert run.status == "Succeeded" and run.finish_time and run.output_images[0].digest.startswith("sha256:")
        assert "Succeeded" in run.log()


def test_run_left_running_by_a_dead_process_is_marked_error(home):
    code = ("from acrmagic.runs.store import RunStore; from acrmagic.runs.model import Run; import os\n"
            "s = RunStore(); r = s.create(Run(run_id='')); r.status = 'Running'; s.save(r); print(r.run_id)\n"
            "os._exit(0)")
    run_id = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "ACRMAGIC_HOME": str(home)}).stdout.strip()
    run = RunStore().get(run_id)
    assert run.status == "Error" and "exited before the run finished" in run.error


def test_running_run_of_a_live_process_is_left_alone(home):
    store = RunStore()
    run = store.create(Run(run_id=""))
    run.status = "Running"
    store.save(run)
    assert RunStore().get(run.run_id).status == "Running"


def test_unknown_run_id():
    with pytest.raises(acrmagic.RunNotFound, match="no run zz9"):
        acrmagic.show("zz9")


def test_list_filters_and_order(home):
    store = RunStore()
    for status in ("Succeeded", "Failed", "Succeeded"):
        run = store.create(Run(run_id=""))
        run.status = status
        store.save(run)
    assert [r.run_id for r in acrmagic.runs()] == ["la3", "la2", "la1"]
    assert [r.run_id for r in acrmagic.runs(status="failed")] == ["la2"]
    assert [r.run_id for r in acrmagic.runs(top=1)] == ["la3"]
    with pytest.raises(acrmagic.UsageError, match="--status: unknown status 'Done'"):
        acrmagic.runs(status="Done")


def test_an_id_a_service_gives_again_names_the_new_run_and_the_old_one_is_set_aside(home):
    store = RunStore()
    first = store.create(Run(run_id="ca1", backend="acr"))
    Path(first.log_path).write_text("first run's log\n")
    second = store.create(Run(run_id="ca1", backend="acr", registry="other"))
    assert store.get("ca1").registry == "other" and Path(second.log_path).read_text() == ""
    [old] = [r for r in store.list() if r.run_id.startswith("ca1~")]
    assert old.log() == "first run's log\n"
