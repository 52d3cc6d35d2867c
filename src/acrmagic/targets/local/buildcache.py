"""BuildKit's build-cache records on the engine, listed and removed by ID (never by a broad prune).

A session build keeps one copy of each context folder in the cache (BuildKit updates it in place on
the next build of the same folder), so the cache grows by what changed, not by the context. The tests
and benchmarks use this to leave the cache as they found it: they remove the records their own builds
made, one ID at a time, and nothing else.
"""

from __future__ import annotations

import json
import random
import re
import time
from datetime import datetime

from ...errors import EngineError


#: how long to wait for another client's disk-usage call: an engine before 23 runs one at a time
#: and refuses the others ("a disk usage operation is already running")
DF_PATIENCE = 120.0


def records(engine) -> dict[str, dict]:
    """Every build-cache record on the engine: ID -> {Type, Size, InUse, CreatedAt, Description, ...}."""
    deadline = time.monotonic() + DF_PATIENCE
    while True:
        try:
            df = engine.call("GET", "/system/df", timeout=120) or {}
            break
        except EngineError as e:
            if "already running" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.2 + random.random() * 0.5)  # apart from the other clients waiting too
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
        if windows is not None and not _inside(_created(r), windows):
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


def made_within(engine, windows: list[tuple[datetime, datetime]]) -> list[str]:
    """IDs of the records created inside one of `windows` (the engine's clock before and after each of
    the caller's builds), and last used inside one too, that nobody uses now, of every kind: a caller
    that cannot name its builds' RUN commands (a test suite) takes the windows as what identifies its
    records. A record someone used outside the windows is shared with another build: it stays."""
    return [i for i, r in records(engine).items()
            if not r.get("InUse") and _inside(_created(r), windows) and _inside(_last_used(r), windows)]


def _inside(when: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(start <= when <= end for start, end in windows)


def _last_used(record: dict) -> datetime:
    return _time(record["LastUsedAt"]) if record.get("LastUsedAt") else _created(record)


#: IDs per prune call: the engine takes one `id` filter, a regular expression, so one call can name many
_BATCH = 200


def remove(engine, ids) -> int:
    """Remove these records and nothing else; bytes freed. The engine takes one `id` filter (a regular
    expression), so each call names a batch as `^(id1|id2|...)$`: a call costs about the same for one
    record as for hundreds. A record whose children are still there cannot go yet: passes repeat while
    one frees something."""
    left, freed = [i for i in dict.fromkeys(ids) if re.fullmatch(r"[A-Za-z0-9]+", i)], 0
    while left:
        deleted: set[str] = set()
        for n in range(0, len(left), _BATCH):
            batch = left[n:n + _BATCH]
            filters = json.dumps({"id": ["^(" + "|".join(batch) + ")$"]})
            try:
                answer = engine.call("POST", "/build/prune", {"filters": filters, "all": "1"}, timeout=300) or {}
            except EngineError:
                continue  # in use again, or gone
            gone = set(answer.get("CachesDeleted") or []) & set(batch)
            if gone:
                freed += answer.get("SpaceReclaimed") or 0
            deleted |= gone
        if not deleted:
            break
        left = [i for i in left if i not in deleted]
    return freed


def engine_now(engine) -> datetime:
    """The engine's clock (records carry its times, not ours)."""
    return _time((engine.call("GET", "/info") or {}).get("SystemTime", ""))
