"""ACR's Run resource (the SDK model) -> acrmagic's run record, with the field names local runs use."""

from __future__ import annotations

from datetime import datetime, timezone

from ...runs.model import OutputImage, Run
from ...states import ERROR, MANUAL, QUICK_RUN, run_status
from .service import enum_text


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def status(run) -> str:
    text = enum_text(run.status)
    return (run_status(text) if text else None) or ("Running" if text == "Started" else ERROR if text else "Queued")


def output_images(run) -> list[OutputImage]:
    return [OutputImage(o.registry or "", o.repository or "", o.tag or "", o.digest or "")
            for o in (run.output_images or [])]


def trigger(run) -> str:
    """As `az acr task list-runs` shows it: the source event, Timer, Image Update, or Manual."""
    if getattr(run, "source_trigger", None) is not None:
        return enum_text(run.source_trigger.event_type) or "Commit"
    if getattr(run, "timer_trigger", None) is not None:
        return "Timer"
    if getattr(run, "image_update_trigger", None) is not None:
        return "Image Update"
    return MANUAL


def to_run(run, target: dict, login_server: str) -> Run:
    platform = {}
    if run.platform is not None:
        platform = {k: v for k, v in (("os", enum_text(run.platform.os)),
                                      ("architecture", enum_text(run.platform.architecture)),
                                      ("variant", enum_text(run.platform.variant))) if v}
    system = getattr(run, "system_data", None)
    return Run(run_id=run.run_id, run_type=enum_text(run.run_type) or QUICK_RUN, status=status(run),
               create_time=iso(run.create_time) or iso(run.last_updated_time) or "", start_time=iso(run.start_time),
               finish_time=iso(run.finish_time), trigger=trigger(run),
               who=(getattr(system, "created_by", None) or "") if system is not None else "",
               backend="acr", target=dict(target), registry=login_server, task=run.task,
               platform=platform or {"os": "linux"}, output_images=output_images(run),
               error=run.run_error_message, cancel_ref=run.run_id)
