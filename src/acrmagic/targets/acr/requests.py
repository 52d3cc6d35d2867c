"""A QuickBuild or TaskRun -> the SDK's run request model, field by field as `az acr build` and
`az acr run` fill them (acr-cloud-api.md §1.1, §1.2). Nothing is rendered here: `{{.Run.ID}}` in
image names is ACR's to fill in."""

from __future__ import annotations

import base64

from ...acrspec import MAX_TIMEOUT, MIN_TIMEOUT  # what the service accepts
from ...errors import UsageError
from ...platforms import DEFAULT as DEFAULT_PLATFORM, Platform
from ...runrequest import QuickBuild, TaskRun
from . import sdk


def platform(given: Platform | None):
    """`--platform` (parsed at the edge) as the SDK's model; default linux/amd64 as az. What ACR does not
    build for is refused."""
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import PlatformProperties

    value = given or DEFAULT_PLATFORM
    problem = value.acr_problem()
    if problem:
        raise UsageError(f"--platform: {problem}")
    p = value.to_json()
    return PlatformProperties(os=p["os"], architecture=p["architecture"], variant=p.get("variant"))


def platform_record(p) -> dict:
    return {k: v for k, v in (("os", p.os), ("architecture", p.architecture), ("variant", p.variant)) if v}


def check_timeout(timeout: int) -> int:
    if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
        raise UsageError(f"--timeout: ACR runs take {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds, not {timeout}")
    return timeout


def docker_build(req: QuickBuild, source_location: str, dockerfile_path: str):
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import Argument, DockerBuildRequest

    arguments = ([Argument(name=k, value=v, is_secret=False) for k, v in req.build_args.items()]
                 + [Argument(name=k, value=v, is_secret=True) for k, v in req.secret_build_args.items()])
    return DockerBuildRequest(
        image_names=list(req.images), is_push_enabled=req.pushes, source_location=source_location,
        docker_file_path=dockerfile_path, platform=platform(req.platform), arguments=arguments,
        timeout=check_timeout(req.timeout), target=req.target or None, no_cache=bool(req.no_cache),
        is_archive_enabled=False, agent_pool_name=req.agent_pool or None)


def _values(req: TaskRun) -> list:
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import SetValue

    return ([SetValue(name=k, value=v, is_secret=False) for k, v in req.set_values.items()]
            + [SetValue(name=k, value=v, is_secret=True) for k, v in req.set_secrets.items()])


def file_task(req: TaskRun, source_location: str, task_file: str, values_file: str | None):
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import FileTaskRunRequest

    return FileTaskRunRequest(
        task_file_path=task_file, values_file_path=values_file, values_property=_values(req),
        source_location=source_location, timeout=check_timeout(req.timeout), platform=platform(None),
        is_archive_enabled=False, agent_pool_name=req.agent_pool or None)


def encoded_task(req: TaskRun, source_location: str | None):
    """A task sent inline (no uploaded folder: no context, or a git URL ACR fetches itself)."""
    sdk.ready("azure.mgmt.containerregistrytasks")
    from azure.mgmt.containerregistrytasks.models import EncodedTaskRunRequest

    values = base64.b64encode(req.values_text.encode("utf-8")).decode() if req.values_text else None
    return EncodedTaskRunRequest(
        encoded_task_content=base64.b64encode(req.task_text.encode("utf-8")).decode(),
        encoded_values_content=values, values_property=_values(req), source_location=source_location,
        timeout=check_timeout(req.timeout), platform=platform(None), is_archive_enabled=False,
        agent_pool_name=req.agent_pool or None)
