"""The audit trail: `trace(image)` answers which run produced an image, what triggered it (who, a
commit, a base-image update, a timer), from which source (a commit, or the context's content digest),
on which base-image digests, which later runs rebuilt that tag, and which runs were built on it.

Everything comes from the run records: runs are the single history; tasks only add their names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import config, refs
from ..errors import UsageError, quoted
from ..runs.model import Run
from ..runs.store import RunStore

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass
class Trace:
    image: str  # as asked, qualified
    digest: str | None
    run: Run | None  # the run that produced it
    rebuilt_by: list[Run] = field(default_factory=list)  # later runs that pushed the same tag
    built_on_by: list[Run] = field(default_factory=list)  # runs whose base images include this digest

    def to_dict(self) -> dict:
        r = self.run
        return {
            "image": self.image, "digest": self.digest,
            "producedBy": None if r is None else {
                "runId": r.run_id, "task": r.task, "runType": r.run_type, "status": r.status,
                "createTime": r.create_time, "who": r.who, "trigger": r.trigger, "triggerDetails": r.trigger_details,
                "source": r.source, "baseImages": r.base_images},
            "rebuiltBy": [{"runId": x.run_id, "task": x.task, "trigger": x.trigger, "createTime": x.create_time,
                           "outputImages": [o.ref for o in x.output_images]} for x in self.rebuilt_by],
            "builtOnBy": [{"runId": x.run_id, "task": x.task, "trigger": x.trigger,
                           "outputImages": [o.ref for o in x.output_images]} for x in self.built_on_by],
        }

    def lines(self) -> list[str]:
        r = self.run
        if r is None:
            return [f"{self.image}: no recorded run produced it"]
        out = [f"{self.image}@{self.digest or '?'}",
               f"  produced by run {r.run_id}" + (f" of task {r.task}" if r.task else "") + f" ({r.run_type}, {r.status})",
               f"  triggered by: {r.cause}"]
        src = r.source or {}
        if src.get("commit"):
            out.append(f"  source: commit {src['commit']} of {src.get('repository') or src.get('url')}"
                       + (f" (branch {src['branch']})" if src.get("branch") else ""))
        elif src.get("digest"):
            out.append(f"  source: context digest {src['digest']}")
        for base in r.base_images:
            out.append(f"  base image: {base['image']}@{base.get('digest') or '?'}")
        for x in self.rebuilt_by:
            out.append(f"  rebuilt by run {x.run_id} ({x.cause})")
        for x in self.built_on_by:
            out.append(f"  built on by run {x.run_id}" + (f" of task {x.task}" if x.task else "")
                       + f": {', '.join(o.ref for o in x.output_images) or 'no image pushed'}")
        return out

    def __repr__(self) -> str:
        return "\n".join(self.lines())

    def _repr_html_(self) -> str:
        import html

        return f"<pre class='acrmagic-trace'>{html.escape(repr(self))}</pre>"


def _parse(text: str) -> tuple[str | None, str | None]:
    """(registry/repository:tag or None, digest or None) of what the user asked about."""
    if _DIGEST.fullmatch(text):
        return None, text
    try:
        ref = refs.parse(refs.qualify(text, config.default_registry()))
    except ValueError:
        raise UsageError(f"trace: {quoted(text)} is neither an image reference (repo[:tag][@digest]) nor a digest") from None
    tag = ref.tag or ("latest" if not ref.digest else None)
    return (f"{ref.name}:{tag}" if tag else ref.name), ref.digest


def _pushed(run: Run, digest: str | None, tagged: str | None) -> bool:
    for o in run.output_images:
        name = f"{o.registry}/{o.repository}"
        if digest and o.digest != digest:
            continue
        if tagged and f"{name}:{o.tag}" != tagged and name != tagged:
            continue
        return True
    return False


def trace(image: str, *, run_store: RunStore | None = None) -> Trace:
    """Trace `image` (`repo:tag`, `repo@sha256:...`, `repo:tag@sha256:...` or a bare digest)."""
    store = run_store or RunStore()
    tagged, digest = _parse(image.strip())
    if digest is None and tagged:  # the tag now: the registry knows which digest it points to
        ref = refs.parse(tagged)
        if ref.registry.split(":")[0] in ("localhost", "127.0.0.1"):
            from ..registry import manifest_digest

            try:
                digest = manifest_digest(ref.registry, ref.repository, ref.tag or "latest")
            except OSError:
                digest = None
    needle = digest or (refs.parse(tagged).repository if tagged else "")
    candidates = [r for r in store.list(text=needle) if _pushed(r, digest, tagged)]  # newest first
    if digest and not candidates and tagged:  # a tag re-pushed outside acrmagic: fall back to the tag's runs
        candidates = [r for r in store.list(text=refs.parse(tagged).repository) if _pushed(r, None, tagged)]
    shown = tagged or image
    if not candidates:
        return Trace(shown, digest, None)
    producer = candidates[-1] if digest else candidates[0]  # the first run that pushed the digest
    digest = digest or next(o.digest for o in producer.output_images if _pushed_one(o, tagged))
    tags = {f"{o.registry}/{o.repository}:{o.tag}" for o in producer.output_images if o.digest == digest}
    later = [r for r in store.list(text=producer.output_images[0].repository)
             if r.create_time > producer.create_time and r.run_id != producer.run_id
             and any(f"{o.registry}/{o.repository}:{o.tag}" in tags for o in r.output_images)]
    built_on = [r for r in store.list(text=digest) if r.run_id != producer.run_id
                and any(b.get("digest") == digest for b in r.base_images)]
    return Trace(shown if tagged else f"{next(iter(sorted(tags)), image)}", digest, producer,
                 rebuilt_by=sorted(later, key=lambda r: r.create_time),
                 built_on_by=sorted(built_on, key=lambda r: r.create_time))


def _pushed_one(o, tagged: str | None) -> bool:
    return tagged is None or f"{o.registry}/{o.repository}:{o.tag}" == tagged or f"{o.registry}/{o.repository}" == tagged
