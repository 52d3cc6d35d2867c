"""ACR's Run resource (the SDK model) -> acrmagic's run record, with the field names local runs use."""

from __future__ import annotations

from datetime import datetime, timezone

from ... import acrspec
from ...runs.model import OutputImage, Run
from ...states import ERROR, MANUAL, QUEUED, RUNNING, run_status
from .service import enum_text


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def status(run) -> str:
    text = enum_text(run.status)
    return (run_status(text) if text else None) or (RUNNING if text == acrspec.STARTED else ERROR if text else QUEUED)


def output_images(run) -> list[OutputImage]:
    return [OutputImage(o.registry or "", o.repository or "", o.tag or "", o.digest or "")
            for o in (run.output_images or [])]


def trigger(run) -> str:
    """As `az acr task list-runs` shows it: the source event, Timer, Image Update, or Manual."""
    if getattr(run, "source_trigger", None) is not None:
        return enum_text(run.source_trigger.event_type) or acrspec.COMMIT_TRIGGER
    if getattr(run, "timer_trigger", None) is not None:
        return acrspec.TIMER_TRIGGER
    if getattr(run, "image_update_trigger", None) is not None:
        return acrspec.IMAGE_UPDATE_TRIGGER
    return MANUAL


#: the Run resource's own fields kept on the record as the service sent them: (SDK attribute, wire name)
SERVICE_FIELDS = (("last_updated_time", "lastUpdatedTime"), ("provisioning_state", "provisioningState"),
                  ("is_archive_enabled", "isArchiveEnabled"), ("agent_configuration", "agentConfiguration"),
                  ("source_registry_auth", "sourceRegistryAuth"), ("agent_pool_name", "agentPoolName"))


def service_fields(run) -> dict:
    out = {}
    for attr, wire in SERVICE_FIELDS:
        value = getattr(run, attr, None)
        if value is None:
            continue
        if isinstance(value, datetime):
            value = iso(value)
        elif hasattr(value, "as_dict"):
            value = value.as_dict()
        else:
            value = enum_text(value) if not isinstance(value, (bool, int)) else value
        out[wire] = value
    return out


def who(run, caller=None) -> str:
    """Who started the run: systemData.createdBy where the service sends it, else lastModifiedBy (what
    real runs carry), else the principal of the token the request went with (`caller()`)."""
    system = getattr(run, "system_data", None)
    if system is not None:
        for attr in ("created_by", "last_modified_by"):
            if getattr(system, attr, None):
                return getattr(system, attr)
    return caller() if caller is not None else ""


def to_run(run, target: dict, login_server: str, caller=None, read=None) -> Run:
    """acrmagic's record of ACR's Run. A partial Run (scheduleRun's answer has no runType, createTime,
    platform) is read again with `read(run_id)` rather than filled from defaults."""
    if read is not None and (run.run_type is None or run.create_time is None):
        run = read(run.run_id)
    platform = {}
    if run.platform is not None:
        platform = {k: v for k, v in (("os", enum_text(run.platform.os)),
                                      ("architecture", enum_text(run.platform.architecture)),
                                      ("variant", enum_text(run.platform.variant))) if v}
    return Run(run_id=run.run_id, run_type=enum_text(run.run_type) or "", status=status(run),
               create_time=iso(run.create_time) or "", start_time=iso(run.start_time),
               finish_time=iso(run.finish_time), trigger=trigger(run), trigger_details=trigger_details(run),
               who=who(run, caller), backend="acr", target=dict(target), registry=login_server, task=run.task,
               platform=platform, output_images=output_images(run),
               error=run.run_error_message, cancel_ref=run.run_id, service=service_fields(run))


def trigger_details(run) -> dict:
    """The trigger's payload as the service sent it (commit, digests, timer)."""
    for attr in ("source_trigger", "image_update_trigger", "timer_trigger"):
        value = getattr(run, attr, None)
        if value is not None:
            return value.as_dict() if hasattr(value, "as_dict") else dict(value)
    return {}
