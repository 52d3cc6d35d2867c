"""Tasks kept in ACR (tasks/acr_service.py): the Task JSON ACR is sent and the PATCH of an update.
The verbs against the service itself (the emulator, through the Azure SDK) are in test_acr_tasks.py."""

from __future__ import annotations

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks import definition as d
from acrmagic.tasks.acr_service import changed, to_acr


def test_acr_is_sent_the_secrets_given_now_and_nothing_else_private():
    resource, given = d.build("nightly-run", {"cmd": "busybox true", "context": "/dev/null",
                                              "set": ["who=me"], "set_secret": ["pw=hunter2"]}, now="2026-01-01T00:00:00Z")
    body = to_acr(resource, given)
    values = {v["name"]: v for v in body["properties"]["step"]["values"]}
    assert values["pw"]["value"] == "hunter2" and values["pw"]["isSecret"] is True
    assert values["who"]["value"] == "me"
    assert "id" not in body and "location" not in body and d.EXTENSION not in body
    again = to_acr(resource, {})  # an update that gives no secret sends none: ACR keeps the one it has
    assert "pw" not in {v["name"] for v in again["properties"]["step"].get("values", [])}


def test_a_dockerfile_body_is_not_sent_to_acr(tmp_path):
    resource, given = d.build("cell-build", {"body": "FROM busybox\n", "image": ["x:1"], "context": str(tmp_path)},
                              now="2026-01-01T00:00:00Z")
    with pytest.raises(UsageError, match="commit it and pass -f PATH"):
        to_acr(resource, given)


@pytest.mark.parametrize("old, new, patch", [
    ({"timeout": 3600}, {"timeout": 600}, {"timeout": 600}),
    ({"timeout": 600}, {"timeout": 600}, {}),
    ({"trigger": {}}, {"trigger": {"sourceTriggers": [{"name": "s", "status": "Disabled"}]}}, {}),  # none switched on
    ({"step": {"type": "Docker"}}, {"step": {"type": "Docker", "contextPath": "/dev/null"}}, {}),  # none invented
    ({"step": {"type": "Docker", "noCache": False}}, {"step": {"type": "Docker", "noCache": True}},
     {"step": {"type": "Docker", "noCache": True}}),  # a step sent carries its type
    ({"provisioningState": "Succeeded"}, {"provisioningState": "Updating"}, {}),  # ACR's to compute
])
def test_an_update_sends_only_what_differs(old, new, patch):
    assert changed(old, new) == patch
