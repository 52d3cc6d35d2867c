"""What acrmagic keeps between scheduler ticks about a task's triggers, typed, in four sections:

    commit   the branch head last seen (None: no baseline yet, the next head seen becomes it)
    timers   per timer: its next occurrence, and the occurrence it last fired for
    base     the base images the task stands on ({image: digest}), the tags it pushes, and which new
             digests have fired already
    errors   per trigger ("commit", "baseImage", "run"): why it could not be checked or run

Stored as JSON in the task store (`{"commit": {"last": ...}, "timers": {name: {"next", "last"}},
"base": {"watch", "outputs", "fired"}, "errors": {...}}`, the shape stores have always had), and changed
only through the methods here: each says what happened, and those that advance a trigger return False
when the state has moved on since it was read (another scheduler or a webhook fired it first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMIT_ERROR, BASE_IMAGE_ERROR, RUN_ERROR = "commit", "baseImage", "run"


@dataclass
class CommitState:
    last: str | None = None  # the head the last commit fire (or the baseline) was for


@dataclass
class TimerState:
    next: str | None = None  # ISO time of the next occurrence
    last: str | None = None  # ISO time of the occurrence it last fired for

    def to_json(self) -> dict:
        return {k: v for k, v in (("next", self.next), ("last", self.last)) if v is not None}


def image_key(image: dict) -> str:
    """`registry/repository:tag` of a changed-image record (how the watch list names images)."""
    return f"{image['registry']}/{image['repository']}:{image['tag']}"


@dataclass
class BaseImageState:
    watch: dict[str, str] = field(default_factory=dict)  # image -> the digest the last run's build used
    outputs: list[str] = field(default_factory=list)  # registry/repository:tag the last run pushed
    fired: dict[str, str] = field(default_factory=dict)  # image -> new digest a fire was made for


@dataclass
class TriggerState:
    commit: CommitState = field(default_factory=CommitState)
    timers: dict[str, TimerState] = field(default_factory=dict)
    base: BaseImageState | None = None  # None: the task never taught its base-image trigger anything
    errors: dict[str, str] = field(default_factory=dict)

    # -- JSON ------------------------------------------------------------------------------------------------
    @classmethod
    def from_json(cls, data: dict | None) -> "TriggerState":
        data = data or {}
        base = data.get("base")
        return cls(
            commit=CommitState((data.get("commit") or {}).get("last")),
            timers={name: TimerState(t.get("next"), t.get("last")) for name, t in (data.get("timers") or {}).items()},
            base=None if base is None else BaseImageState(
                dict(base.get("watch") or {}), list(base.get("outputs") or []), dict(base.get("fired") or {})),
            errors=dict(data.get("errors") or {}))

    def to_json(self) -> dict:
        out: dict = {"commit": {"last": self.commit.last},
                     "timers": {name: t.to_json() for name, t in self.timers.items()}}
        if self.base is not None:
            out["base"] = {"watch": self.base.watch, "outputs": self.base.outputs, "fired": self.base.fired}
        if self.errors:
            out["errors"] = self.errors
        return out

    # -- commit ------------------------------------------------------------------------------------------------
    def set_commit_baseline(self, head: str | None) -> None:
        """The head that counts as seen (None: the next head seen becomes the baseline)."""
        self.commit.last = head

    def advance_commit(self, seen: str | None, head: str) -> bool:
        if self.commit.last != seen:
            return False  # moved on meanwhile (a webhook, another scheduler)
        self.commit.last = head
        return True

    # -- timers --------------------------------------------------------------------------------------------------
    def add_timers(self, fresh: dict[str, TimerState]) -> None:
        """Timers added since the state was made start counting from their fresh next occurrence."""
        self.timers.update(fresh)

    def restart_timers(self, fresh: dict[str, TimerState], keep: set[str] = frozenset()) -> None:
        """Every timer from `fresh` (now), except those named in `keep`, which go on as they were."""
        self.timers = {**fresh, **{name: t for name, t in self.timers.items() if name in keep}}

    def advance_timer(self, name: str, seen_next: str, new: TimerState) -> bool:
        current = self.timers.get(name)
        if current is None or current.next != seen_next:
            return False  # someone else fired it
        self.timers[name] = new
        return True

    # -- base images ------------------------------------------------------------------------------------------
    def learn_base_images(self, watch: dict[str, str], outputs: list[str]) -> None:
        """After a successful run: the images it stood on and the tags it pushed. A fired digest is forgotten
        once the watch list has caught up with it (or no longer holds the image)."""
        old = self.base.fired if self.base else {}
        self.base = BaseImageState(dict(watch), list(outputs),
                                   {k: v for k, v in old.items() if watch.get(k) not in (None, v)})

    def advance_base_images(self, images: list[dict]) -> bool:
        """Record a fire for these changed images; False when every one of them has fired already."""
        if self.base is None:
            self.base = BaseImageState()
        new = {image_key(i): i["newDigest"] for i in images}
        if all(self.base.fired.get(k) == v for k, v in new.items()):
            return False
        self.base.fired.update(new)
        return True

    # -- errors ------------------------------------------------------------------------------------------------
    def set_errors(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)

    def record_error(self, trigger: str, message: str) -> None:
        self.errors[trigger] = message

    def clear_error(self, trigger: str) -> None:
        self.errors.pop(trigger, None)
