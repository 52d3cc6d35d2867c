"""BuildKit's build-cache records on the engine, listed and removed by ID (never by a broad prune).

A session build keeps one copy of each context folder in the cache (BuildKit updates it in place on
the next build of the same folder), so the cache grows by what changed, not by the context. The tests
and benchmarks use this to leave the cache as they found it: they remove the records their own builds
made, one ID at a time, and nothing else.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime

from ...errors import EngineError


def records(engine) -> dict[str, dict]:
    """Every build-cache record on the engine: ID -> {Type, Size, InUse, CreatedAt, Description, ...}."""
    for attempt in range(60):
        try:
            df = engine.call("GET", "/system/df", timeout=120) or {}
            break
        except EngineError as e:  # the engine counts for one client at a time: another's count is running
            if "already running" not in e.message or attempt == 59:
                raise
            time.sleep(1)
    return {r["ID"]: r for r in df.get("BuildCache") or []}


def created_since(engine, before: dict[str, dict], since: datetime) -> dict[str, dict]:
    """Records absent from `before` and created at or after `since` (an aware UTC time, the engine's clock)."""
    return {i: r for i, r in records(engine).items() if i not in before and _created(r) >= since}


def made_by_session_builds(engine, before: dict[str, dict], since: datetime, markers=(),
                           windows: list[tuple[datetime, datetime]] | None = None) -> list[str]:
    """IDs of records a session build could have made since `since` (and, given `windows`, while one
    of the caller's builds ran: the engine's clock before and after each) that nobody uses: the copies
    of its folders (`local source for ...`), the layers COPY wrote, and the RUN layers whose command
    holds one of `markers`. A tar-upload build's records (`http url ...`) and other RUN layers are left
    alone; so is anything in use. The engine names no build on a record: another client's session build
    in the same windows could make records that look the same."""
    out = []
    for record_id, r in created_since(engine, before, since).items():
        what = r.get("Description") or ""
        if r.get("InUse"):
            continue
        if windows is not None and not any(start <= _created(r) <= end for start, end in windows):
            continue
        if (r.get("Type") == "source.local" or what.startswith("fileop target")
                or (what.startswith("mount / from exec") and any(m in what for m in markers))):
            out.append(record_id)
    return out


def _created(record: dict) -> datetime:
    return _time(record.get("CreatedAt", ""))


def _time(stamp: str) -> datetime:
    """Go's RFC 3339 with nanoseconds, to an aware datetime (microseconds)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?$", stamp)
    if not m:
        raise ValueError(f"not a time the engine writes: {stamp!r}")
    zone = "+00:00" if m.group(3) in (None, "Z") else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{((m.group(2) or '') + '000000')[:6]}{zone}")


def remove(engine, ids) -> int:
    """Remove these records (one call each: the engine takes one ID filter at a time); bytes freed.
    A record whose children are still there cannot go yet: passes repeat while one frees something."""
    left, freed = list(ids), 0
    while left:
        kept = []
        for record_id in left:
            filters = json.dumps({"id": [f"^{record_id}$"]})
            try:
                answer = engine.call("POST", "/build/prune", {"filters": filters, "all": "1"}, timeout=120) or {}
            except EngineError:
                continue  # in use again, or gone
            if record_id in (answer.get("CachesDeleted") or []):
                freed += answer.get("SpaceReclaimed") or 0
            else:
                kept.append(record_id)
        if len(kept) == len(left):
            break
        left = kept
    return freed


def engine_now(engine) -> datetime:
    """The engine's clock (records carry its times, not ours)."""
    return _time((engine.call("GET", "/info") or {}).get("SystemTime", ""))
