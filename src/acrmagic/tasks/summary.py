"""Tasks as people read them: one task (show), a table of tasks (list), as az's table transformer
lays them out (NAME, PLATFORM, STATUS, SOURCE REPOSITORY, TRIGGERS), plus the trigger state acrmagic
keeps (last commit seen, watched base images, next timer occurrences, trigger errors)."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from ..platforms import Platform
from . import definition as d
from .trigger_state import TriggerState


def triggers(resource: dict) -> str:
    on = [label for label, ok in (("BASE_IMAGE", d.base_image_trigger(resource)),
                                  ("SOURCE", d.commit_trigger(resource)),
                                  ("TIMER", any(t.get("status") == d.ENABLED for t in d.timer_triggers(resource))))
          if ok]
    return ", ".join(on) or "-"


@dataclass
class TaskInfo:
    resource: dict  # the Task resource as ACR shapes it (no secrets)
    state: dict = field(default_factory=dict)  # the trigger state as stored (JSON); empty for a task in ACR

    @property
    def name(self) -> str:
        return self.resource["name"]

    @property
    def trigger_state(self) -> TriggerState:
        return TriggerState.from_json(self.state)

    def to_dict(self) -> dict:
        return self.resource

    def lines(self) -> list[str]:
        props, step = self.resource["properties"], self.resource["properties"]["step"]
        platform = Platform.from_json(props["platform"])
        out = [f"Task {self.name}: {props['status']}, {step['type']} step, {platform}, timeout {props['timeout']}s"]
        if step["type"] == d.DOCKER:
            out.append(f"  images: {', '.join(step['imageNames']) or '-'} (push: {str(step['isPushEnabled']).lower()})")
        trig, state = props.get("trigger", {}), self.trigger_state
        for source in trig.get("sourceTriggers", []):
            repo = source["sourceRepository"]
            last = state.commit.last
            out.append(f"  commit trigger: {source['status']}, {repo['repositoryUrl']} branch {repo['branch']}"
                       + (f", last commit {last[:12]}" if last else ""))
        base = trig.get("baseImageTrigger")
        if base:
            watch = state.base.watch if state.base else {}
            out.append(f"  base-image trigger: {base['status']} ({base['baseImageTriggerType']}), watching "
                       + (", ".join(sorted(watch)) or "nothing yet (after the task's first run)"))
        for t in trig.get("timerTriggers", []):
            nxt = state.timers[t["name"]].next if t["name"] in state.timers else None
            out.append(f"  timer {t['name']}: {t['status']}, '{t['schedule']}' UTC" + (f", next {nxt}" if nxt else ""))
        if self.resource.get("identity"):
            out.append(f"  identity: {self.resource['identity']['type']}")
        for trigger, message in sorted(state.errors.items()):
            out.append(f"  error ({trigger}): {message}")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        return f"<pre class='acrmagic-task'>{html.escape(repr(self))}</pre>"

    def json(self) -> str:
        return json.dumps(self.resource, indent=2)


class TaskList(list):
    """Tasks, by name, as a table."""

    COLUMNS = ("NAME", "PLATFORM", "STATUS", "SOURCE REPOSITORY", "TRIGGERS")

    def rows(self) -> list[tuple[str, ...]]:
        out = []
        for info in self:
            props = info.resource["properties"]
            out.append((info.name, props["platform"]["os"], props["status"],
                        props["step"].get("contextPath") or "-", triggers(info.resource)))
        return out

    def __repr__(self) -> str:
        rows = [self.COLUMNS, *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.COLUMNS) - 1)]
        return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(r, widths)), r[-1]]) for r in rows)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows())
        return f"<table class='acrmagic-tasks'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
