"""Run requests as the emulator reads them (run_requests.py): the four request types, their image names
with ACR's run variables, secrets kept apart, and the one-line 400 naming the field that is wrong."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest

from acrmagic.emulator.run_requests import BuildJob, parse_run_request, qualify
from acrmagic.errors import ArmError


def test_request_translation():
    job = parse_run_request({"type": "DockerBuildRequest", "imageNames": ["app:{{.Run.ID}}", "x.io/a/b:{{.Run.Date}}",
                                                                           "{{.Run.Registry}}/c"],
                             "isPushEnabled": True, "dockerFilePath": "sub/Dockerfile", "sourceLocation": "source/s",
                             "platform": {"os": "Linux", "architecture": "ARM64"}, "target": "t", "noCache": True,
                             "arguments": [{"name": "A", "value": "1", "isSecret": False, "type": "Argument"},
                                           {"name": "B", "value": "hush", "isSecret": True}]})
    assert isinstance(job, BuildJob) and job.secrets == ["hush"] and job.build_args == {"A": "1"}
    assert job.secret_build_args == {"B": "hush"}
    assert "hush" not in repr(job)
    assert job.platform.engine == "linux/arm64" and job.timeout == 3600 and job.no_cache and job.target == "t"
    when = datetime(2026, 3, 15, 9, 30, 0, tzinfo=timezone.utc)
    assert job.images("cb7", "localhost:5000", when) == ["localhost:5000/app:cb7", "x.io/a/b:20260315-093000z",
                                                         "localhost:5000/c:latest"]
    assert qualify("localhost:5000/x", "r.io") == "localhost:5000/x:latest"
    task = parse_run_request({"type": "FileTaskRunRequest", "taskFilePath": "acb.yaml", "sourceLocation": "s",
                              "platform": {"os": "linux"}, "values": [{"name": "k", "value": "v", "isSecret": True}]})
    assert task.task_file == "acb.yaml" and task.secret_values == {"k": "v"} and task.secrets == ["v"] and not task.values
    with pytest.raises(ArmError) as e:
        parse_run_request({"type": "FileTaskRunRequest", "platform": {"os": "linux"}, "sourceLocation": "s"})
    assert (e.value.status, e.value.target) == (400, "taskFilePath")


def test_secrecy_travels_with_each_value_from_the_request_to_the_run_request(tmp_path):
    """isSecret is kept with each value, not guessed by comparing values: a plain value that happens to
    equal a secret one stays plain, and an override of the same name replaces the value and its flag."""
    from acrmagic.emulator.execute import _task_request

    body = {"type": "EncodedTaskRunRequest", "platform": {"os": "linux"},
            "encodedTaskContent": base64.b64encode(b"steps: []\n").decode(),
            "values": [{"name": "shown", "value": "same"}, {"name": "hidden", "value": "same", "isSecret": True},
                       {"name": "flip", "value": "x", "isSecret": True}, {"name": "flip", "value": "y"}]}
    job = parse_run_request(body)
    assert job.values == {"shown": "same", "flip": "y"} and job.secret_values == {"hidden": "same"}
    request = _task_request(job, tmp_path)
    assert request.set_values == {"shown": "same", "flip": "y"} and request.set_secrets == {"hidden": "same"}
