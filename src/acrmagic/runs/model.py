"""The run record: what acrmagic keeps of every build or task run, shaped like ACR's Run resource."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .. import acrspec
from ..events import StepRecord
from ..states import MANUAL, QUEUED, QUICK_BUILD, RUNNING, SUCCEEDED, TERMINAL


#: where ACR's Run resource puts each trigger's payload
TRIGGER_KEYS = acrspec.TRIGGER_KEYS


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


@dataclass
class OutputImage:
    registry: str
    repository: str
    tag: str
    digest: str

    @property
    def ref(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}@{self.digest}"


@dataclass
class Run:
    run_id: str
    run_type: str = QUICK_BUILD
    status: str = QUEUED
    create_time: str = field(default_factory=now)
    start_time: str | None = None
    finish_time: str | None = None
    trigger: str = MANUAL  # Manual, Commit, Image Update, Timer (what started the run)
    trigger_details: dict = field(default_factory=dict)  # the trigger's payload (commit, digests, timer), ACR-shaped
    who: str = ""
    backend: str = "local"  # the kind of target: local | acr
    target: dict = field(default_factory=dict)  # how to find the target again (targets.from_record); no secrets
    registry: str = ""
    task: str | None = None
    platform: dict = field(default_factory=lambda: {"os": "linux"})
    source: dict = field(default_factory=dict)
    dockerfile: str | None = None
    request: dict = field(default_factory=dict)  # the flags, secret values already masked
    output_images: list[OutputImage] = field(default_factory=list)
    base_images: list[dict] = field(default_factory=list)  # [{"image": ..., "digest": ...}]
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    log_path: str | None = None
    cancel_ref: str | None = None  # what the target cancels the run by, from any process (Target.cancel)
    #: ACR's own fields of the run as the service sent them (lastUpdatedTime, provisioningState,
    #: isArchiveEnabled, agentConfiguration, sourceRegistryAuth, agentPoolName); empty for local runs
    service: dict = field(default_factory=dict)

    # -- derived ---------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> float | None:
        start, end = _parse(self.start_time), _parse(self.finish_time)
        if start is None:
            return None
        return ((end or datetime.now(timezone.utc)) - start).total_seconds()

    @property
    def cause(self) -> str:
        """Why the run happened, in one line: who ran it, or which commit, base-image update or timer."""
        p = self.trigger_details or {}
        task = f"task {self.task}: " if self.task else ""
        if self.trigger == acrspec.COMMIT_TRIGGER:
            return (f"{task}commit {p.get('commitId', '?')[:12]} on {p.get('branchName', '?')} of "
                    f"{p.get('repositoryUrl', '?')}")
        if self.trigger == acrspec.IMAGE_UPDATE_TRIGGER:
            images = ", ".join(f"{i['repository']}:{i['tag']} {i.get('previousDigest', '?')[:19]} -> "
                               f"{i.get('newDigest', '?')[:19]}" for i in p.get("images", []))
            return f"{task}base image update ({images})"
        if self.trigger == acrspec.TIMER_TRIGGER:
            return f"{task}timer {p.get('timerTriggerName')} (scheduled {p.get('scheduledOccurrence')})"
        return f"{task}{self.trigger.lower()} run by {self.who or '?'}"

    def log(self) -> str:
        """The full log of the run, as recorded."""
        if not self.log_path or not Path(self.log_path).exists():
            return ""
        return Path(self.log_path).read_text(errors="replace")

    # -- serialisation ---------------------------------------------------------------------------
    def to_record(self) -> dict:
        """The store's JSON form (everything)."""
        d = asdict(self)
        d["steps"] = [s.to_dict() for s in self.steps]
        return d

    @classmethod
    def from_record(cls, d: dict) -> "Run":
        d = dict(d)
        if "engine_ref" in d:  # records written before targets had cancel references
            d["cancel_ref"] = d.pop("engine_ref")
        d["output_images"] = [OutputImage(**o) for o in d.get("output_images", [])]
        d["steps"] = [StepRecord.from_dict(s) for s in d.get("steps", [])]
        return cls(**d)

    def to_dict(self) -> dict:
        """ACR's Run resource field names, plus acrmagic's own."""
        return {
            "runId": self.run_id,
            "status": self.status,
            "runType": self.run_type,
            "createTime": self.create_time,
            "startTime": self.start_time,
            "finishTime": self.finish_time,
            "outputImages": [asdict(o) for o in self.output_images],
            "task": self.task,
            "platform": self.platform,
            "runErrorMessage": self.error,
            **self.service,
            # acrmagic's own
            "backend": self.backend,
            "target": self.target,
            "trigger": self.trigger,
            **({TRIGGER_KEYS.get(self.trigger, "triggerDetails"): self.trigger_details} if self.trigger_details else {}),
            "who": self.who,
            "registry": self.registry,
            "source": self.source,
            "baseImages": self.base_images,
            "steps": [s.to_dict() for s in self.steps],
            "request": self.request,
            "dockerfile": self.dockerfile,
            "logPath": self.log_path,
            "cancelRef": self.cancel_ref,
            "durationSeconds": self.duration,
        }

    # -- display ---------------------------------------------------------------------------------
    def summary(self) -> str:
        images = ", ".join(o.ref for o in self.output_images) or "no image pushed"
        took = f"{self.duration:.1f}s" if self.duration is not None else "-"
        line = f"Run {self.run_id}: {self.status} in {took}; {images}"
        if self.error and self.status != SUCCEEDED:
            line += f"\n  {self.error}"
        return line

    def __repr__(self) -> str:
        return f"<{self.summary()}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _repr_html_(self) -> str:
        import html  # its entity table costs every `acrmagic build` process a few ms: only notebooks pay

        # JupyterLab's theme variables (with fallbacks elsewhere): readable in its light and dark themes
        bad = "var(--jp-error-color1, #d32f2f)"
        color = {SUCCEEDED: "var(--jp-success-color0, #1b5e20)", RUNNING: "inherit", QUEUED: "inherit"}.get(self.status, bad)
        images = "".join(f"<li><code>{html.escape(o.ref)}</code></li>" for o in self.output_images)
        took = f"{self.duration:.1f}s" if self.duration is not None else "-"
        err = f"<div style='color:{bad}'>{html.escape(self.error)}</div>" if self.error and self.status != SUCCEEDED else ""
        return (f"<div class='acrmagic-run'><b>Run {html.escape(self.run_id)}</b> "
                f"<span style='color:{color};font-weight:bold'>{self.status}</span> "
                f"in {took} <small>({html.escape(self.run_type)}, {html.escape(self.backend)}, "
                f"{html.escape(self.trigger)})</small>{err}<ul>{images}</ul></div>")


class RunList(list):
    """Runs, newest first, shown as a table (text in a terminal, HTML in a notebook)."""

    COLUMNS = ("RUN ID", "TASK", "TYPE", "TRIGGER", "STATUS", "CREATED", "DURATION", "IMAGES")

    def __init__(self, runs=(), query: dict | None = None):
        super().__init__(runs)
        self.query = query or {}  # how they were asked for (status, task, top): the history view starts there

    @staticmethod
    def row(r: "Run") -> tuple[str, ...]:
        took = f"{r.duration:.1f}s" if r.duration is not None else "-"
        images = ", ".join(o.ref for o in r.output_images) or "-"
        return (r.run_id, r.task or "-", r.run_type, r.trigger, r.status, r.create_time[:19].replace("T", " "),
                took, images)

    def rows(self) -> list[tuple[str, ...]]:
        return [self.row(r) for r in self]

    def __repr__(self) -> str:
        rows = [self.COLUMNS, *self.rows()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.COLUMNS) - 1)]
        return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths)), row[-1]]) for row in rows)

    # In a live notebook, `acrmagic.notebook` registers the interactive history as this type's display.
    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows())
        return f"<table class='acrmagic-runs'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
