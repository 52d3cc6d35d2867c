"""Tests leave the shared engine as they found it: what a session builds carries its label and is
removed at its end, and nothing of another's is touched (tests/hygiene/session_builds.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

import acrmagic
import session_builds
from acrmagic import owner
from acrmagic.targets.local import buildcache
from acrmagic.targets.local.engine import connect
from acrmagic.targets.local.leftovers import LABEL_OWNER

pytestmark = pytest.mark.engine

ROOT = Path(__file__).resolve().parent.parent

#: builds of every kind the suite makes: local quick builds, a rebuild under one tag, task runs (their
#: containers and volumes), a cancelled task run, cloud-mode builds run by the emulator subprocess, a
#: build from the command line, and docker CLI builds compared with acrmagic's
SUBSET = [
    "tests/test_quickbuild.py::test_build_and_push_records_digest_read_back_from_registry",
    "tests/test_quickbuild.py::test_registry_alias_and_several_tags",
    "tests/test_engine_hygiene.py::test_a_rebuild_under_one_tag_leaves_its_earlier_image_labelled",
    "tests/test_taskrun.py::test_build_serve_smoke_test_push",
    "tests/test_taskrun.py::test_ctrl_c_cancels_a_task_run",
    "tests/test_acr_target.py::test_quick_build_pushes_the_digest_acr_reports",
    "tests/test_acr_target.py::test_task_file_run_with_a_context",
    "tests/test_cli.py::test_build_runs_show_logs_json",
    "tests/test_context.py::test_inline_dockerfile_context_is_what_docker_build_f_minus_sends",
]


def test_a_rebuild_under_one_tag_leaves_its_earlier_image_labelled(make_context, engine):
    """The image a rebuild takes the tag from is untagged, not gone: the session label still finds it."""
    session = os.environ[session_builds.SESSION_ENV]
    repo = f"rebuilt-{uuid.uuid4().hex[:8]}"
    ids = []
    for n in range(2):
        ctx = make_context({"Dockerfile": f"FROM busybox\nRUN echo {repo}-{n} > /n\n"})
        run = acrmagic.build(image=f"{repo}:same", context=str(ctx), push=False, logs=False)
        assert run.status == "Succeeded"
        ids.append(engine.images.get(f"localhost:5000/{repo}:same").id)
    first = engine.images.get(ids[0])
    assert ids[0] != ids[1] and first.tags == []  # the earlier image lost its tag to the rebuild
    assert first.labels[session_builds.LABEL] == session
    found = {i["Id"] for i in session_builds.images(connect(), session)}
    assert set(ids) <= found


def _labelled_leftovers(engine) -> tuple[set[str], set[str]]:
    """Containers and volumes a run labelled whose owner process is gone (what a run left behind)."""
    filters = json.dumps({"label": [LABEL_OWNER]})
    containers = engine.call("GET", "/containers/json", {"all": "1", "filters": filters}) or []
    volumes = (engine.call("GET", "/volumes", {"filters": filters}) or {}).get("Volumes") or []
    dead = lambda obj: not owner.alive((obj.get("Labels") or {}).get(LABEL_OWNER, ""))  # noqa: E731
    return {c["Id"] for c in containers if dead(c)}, {v["Name"] for v in volumes if dead(v)}


def test_a_session_of_engine_tests_leaves_none_of_its_images_containers_volumes_or_cache_records(tmp_path):
    """Runs a subset of the engine tests as its own pytest session, then looks for what that session
    made, by its own marks only (other sessions build on this engine at the same time)."""
    engine = connect()
    containers_before, volumes_before = _labelled_leftovers(engine)
    protected_before = _protected(engine)
    assert protected_before  # the mirror's stand-ins and base images the builds start from
    env = {**os.environ, "ACRMAGIC_TEST_KEEP_WINDOWS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SUBSET], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    session = f"{os.uname().nodename}:{proc.pid}:{owner.process_start(proc.pid)}"  # the inner session's name
    out, err = proc.communicate(timeout=900)
    try:
        assert proc.returncode == 0, out[-3000:] + err[-3000:]
        assert f"{len(SUBSET)} passed" in out
        said = re.search(r"removed this session's (\d+) images and (\d+) build-cache records", err)
        assert said and int(said[1]) >= 5 and int(said[2]) >= 5, err[-2000:]  # it built, and cleaned up

        assert session_builds.images(engine, session) == []  # none of its images, tagged or not
        spans = [(datetime.fromtimestamp(a, timezone.utc), datetime.fromtimestamp(b, timezone.utc))
                 for a, b in session_builds.windows(session)]
        assert len(spans) >= 8  # every kind of build noted its window, subprocesses' too
        assert buildcache.made_within(engine, spans) == []  # no cache record made while its builds ran
        containers_after, volumes_after = _labelled_leftovers(engine)
        assert containers_after <= containers_before and volumes_after <= volumes_before
        assert _protected(engine) >= protected_before  # the base images and stand-ins all stay
    finally:
        session_builds.windows_file(session).unlink(missing_ok=True)


def _protected(engine) -> set[tuple[str, str]]:
    """(tag, image ID) of the base images and the mirror's stand-ins on the engine."""
    return {(tag, i["Id"]) for i in engine.call("GET", "/images/json") or []
            for tag in i.get("RepoTags") or [] if tag.startswith(session_builds.PROTECTED)}
