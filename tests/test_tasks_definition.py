"""Task definitions: az acr task create's flags and defaults -> ACR's Task JSON; update; secrets hidden."""

from __future__ import annotations

import base64
import json

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks import definition as d


def build(flags, name="hello-task"):
    return d.build(name, flags, now="2026-01-01T00:00:00+00:00")


def test_docker_step_with_az_defaults(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    task, given = build({"context": str(tmp_path), "file": "Dockerfile", "image": ["app:{{.Run.ID}}"]})
    assert given == {}
    assert task["type"] == "Microsoft.ContainerRegistry/registries/tasks"
    assert task["id"].endswith("/providers/Microsoft.ContainerRegistry/registries/local/tasks/hello-task")
    props = task["properties"]
    assert props["provisioningState"] == "Succeeded" and props["status"] == "Enabled"
    assert props["timeout"] == 3600 and props["agentConfiguration"] == {"cpu": 2}
    assert props["platform"] == {"os": "linux", "architecture": "amd64"}
    assert props["step"] == {"type": "Docker", "contextPath": str(tmp_path), "imageNames": ["app:{{.Run.ID}}"],
                             "isPushEnabled": True, "noCache": False, "dockerFilePath": "Dockerfile",
                             "arguments": [], "target": None}
    assert props["trigger"]["baseImageTrigger"] == {"name": "defaultBaseimageTriggerName", "status": "Enabled",
                                                    "baseImageTriggerType": "Runtime",
                                                    "updateTriggerPayloadType": "Default"}
    assert "sourceTriggers" not in props["trigger"]  # a folder has no commits
    assert task["identity"] is None


def test_git_context_gets_a_commit_trigger_and_the_token_only_by_reference():
    task, given = build({"context": "https://github.com/org/repo.git#dev:svc", "file": "Dockerfile",
                         "git_access_token": "ghp_secret123"})
    source = task["properties"]["trigger"]["sourceTriggers"][0]
    assert source["status"] == "Enabled" and source["sourceTriggerEvents"] == ["commit"]
    assert source["sourceRepository"]["sourceControlType"] == "Github"
    assert source["sourceRepository"]["repositoryUrl"] == "https://github.com/org/repo.git"
    assert source["sourceRepository"]["branch"] == "dev"
    assert given == {"gitToken": "ghp_secret123"}
    assert "ghp_secret123" not in json.dumps(task)
    assert task["acrmagic"]["secretRefs"] == {"gitToken": "memory"}
    assert "sourceControlAuthProperties" not in json.dumps(d.public(task))


def test_file_task_encoded_task_and_cmd(tmp_path):
    (tmp_path / "t.yaml").write_text("steps:\n  - cmd: busybox echo hi\n")
    file_task, _ = build({"context": str(tmp_path), "file": "t.yaml", "set": ["a=1"], "set_secret": ["pw=s3cret"]})
    step = file_task["properties"]["step"]
    assert step["type"] == "FileTask" and step["taskFilePath"] == "t.yaml"
    assert step["values"] == [{"name": "a", "value": "1", "isSecret": False}, {"name": "pw", "isSecret": True}]
    assert "s3cret" not in json.dumps(file_task)
    assert d.public(file_task)["properties"]["step"]["values"] == [{"name": "a", "value": "1", "isSecret": False}]

    cmd, _ = build({"cmd": "busybox echo hi", "timeout": 600})
    step = cmd["properties"]["step"]
    assert step["type"] == "EncodedTask" and step["contextPath"] == "/dev/null"
    assert base64.b64decode(step["encodedTaskContent"]).decode() == (
        "version: v1.1.0\nsteps:\n  - cmd: {{ .Values.command }}\n    disableWorkingDirectoryOverride: true\n"
        "    timeout: 600\n")
    assert step["values"] == [{"name": "command", "value": "busybox echo hi", "isSecret": False}]

    body, _ = build({"body": "version: v1.1.0\nsteps:\n  - cmd: busybox true\n"})
    assert body["properties"]["step"]["type"] == "EncodedTask"
    dockerfile, _ = build({"body": "FROM busybox\n", "context": str(tmp_path)})
    assert dockerfile["properties"]["step"]["type"] == "Docker"
    assert dockerfile["acrmagic"]["dockerfile"] == "FROM busybox\n"


def test_timers_named_as_az_names_them():
    task, _ = build({"cmd": "busybox true", "schedule": ["0 2 * * *", "nightly:30 3 * * 1", "*/5 * * * *"]})
    assert task["properties"]["trigger"]["timerTriggers"] == [
        {"name": "t1", "schedule": "0 2 * * *", "status": "Enabled"},
        {"name": "nightly", "schedule": "30 3 * * 1", "status": "Enabled"},
        {"name": "t3", "schedule": "*/5 * * * *", "status": "Enabled"}]


def test_identity_shapes():
    system, _ = build({"cmd": "busybox true", "assign_identity": []})
    assert system["identity"]["type"] == "SystemAssigned" and system["identity"]["principalId"]
    rid = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/builder"
    both, _ = build({"cmd": "busybox true", "assign_identity": ["system", rid]})
    assert both["identity"]["type"] == "SystemAssigned, UserAssigned"
    assert set(both["identity"]["userAssignedIdentities"][rid]) == {"principalId", "clientId"}


def test_update_changes_only_what_is_given(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    task, _ = build({"context": str(tmp_path), "file": "Dockerfile", "image": ["a:1"], "schedule": ["0 1 * * *"],
                     "assign_identity": []})
    new, _ = d.update(task, {"timeout": 900, "base_image_trigger_type": "All"}, now="2026-02-01T00:00:00+00:00")
    assert new["properties"]["timeout"] == 900
    assert new["properties"]["trigger"]["baseImageTrigger"]["baseImageTriggerType"] == "All"
    assert new["properties"]["step"] == task["properties"]["step"]
    assert new["properties"]["trigger"]["timerTriggers"] == task["properties"]["trigger"]["timerTriggers"]
    assert new["properties"]["creationDate"] == task["properties"]["creationDate"]
    assert new["identity"] == task["identity"]
    with pytest.raises(UsageError, match="cannot become FileTask"):
        (tmp_path / "t.yaml").write_text("steps: []\n")
        d.update(task, {"file": "t.yaml"}, now="x")


def test_update_keeps_secrets_not_given_again():
    task, _ = build({"cmd": "busybox true", "set_secret": ["pw=x"]})
    new, given = d.update(task, {"timeout": 700}, now="x")
    assert given == {} and {"name": "pw", "isSecret": True} in new["properties"]["step"]["values"]
    assert new["acrmagic"]["secretRefs"] == {"pw": "memory"}


@pytest.mark.parametrize("name, flags, message", [
    ("abc", {"cmd": "x"}, "not a valid task name"),
    ("bad name!", {"cmd": "x"}, "not a valid task name"),
    ("x" * 51, {"cmd": "x"}, "not a valid task name"),
    ("hello", {"cmd": "x", "schedule": ["61 * * * *"]}, "not a schedule ACR accepts: a value is out of range"),
    ("hello", {"cmd": "x", "schedule": ["0 2 * * * *"]}, "expected 5 fields"),
    ("hello", {"cmd": "x", "schedule": ["TZ=Mars/Olympus 0 2 * * *"]}, "unknown time zone"),
    ("hello", {"cmd": "x", "schedule": ["a:0 2 * * *", "a:0 3 * * *"]}, "two timers are named 'a'"),
    ("hello", {"cmd": "x", "imgae": ["x"]}, "unknown field 'imgae'"),
    ("hello", {"cmd": "x", "timeout": 10}, "300 to 28800"),
    ("hello", {"cmd": "x", "base_image_trigger_type": "Sometimes"}, "Runtime or All"),
    ("hello", {"cmd": "x", "platform": "beos"}, "unknown operating system"),
    ("hello", {"cmd": "x", "assign_identity": ["/not/an/id"]}, "user-assigned identity"),
    ("hello", {"context": "/no/such/folder", "file": "Dockerfile"}, "no such folder"),
    ("hello", {"context": "https://u:p@github.com/o/r.git", "file": "Dockerfile"}, "carries credentials"),
    ("hello", {"cmd": "x", "commit_trigger_enabled": True}, "needs a git context"),
    ("hello", {"file": "Dockerfile"}, "needs a context"),
    ("hello", {}, "give the Dockerfile or task file"),
])
def test_bad_input_is_one_clear_line(name, flags, message):
    with pytest.raises(UsageError, match=message) as e:
        d.build(name, flags, now="x")
    assert "\n" not in str(e.value)


def test_flags_round_trip(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    flags = {"context": str(tmp_path), "file": "Dockerfile", "image": ["a:1"], "arg": ["X=1"], "timeout": 900,
             "platform": "linux/arm64", "schedule": ["n:0 1 * * *"], "base_image_trigger_enabled": False}
    task, _ = build(flags)
    again, _ = build(d.flags_of(task))
    assert again["properties"] == task["properties"]
