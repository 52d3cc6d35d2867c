"""What acrmagic reads from a Dockerfile itself: its base images (the `FROM` lines).

The engine parses and builds; this only finds which images a build stands on, so the run record can
say so and base-image triggers know what to watch.
"""

from __future__ import annotations

import re

_ARG_REF = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def logical_lines(text: str) -> list[str]:
    """Instruction lines with comments dropped and backslash continuations joined."""
    return [line for _, line in instructions(text)]


def instructions(text: str) -> list[tuple[int, str]]:
    """Each instruction as (the number of its first line in `text`, counted from 1; its logical line)."""
    out, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        start = start or number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        out.append((start, pending + stripped))
        pending, start = "", 0
    if pending.strip():
        out.append((start, pending.strip()))
    return out


_VERTEX_STEP = re.compile(r"^\[(?:[^\]]*\s)?(\d+)/\d+\]\s+(.*)$", re.S)


def instruction_line(text: str, vertex: str) -> tuple[int, str] | None:
    """Where the instruction a BuildKit vertex ran (`[stage-0 4/5] RUN pip install ...`) stands in
    `text`: (its first line, the instruction as written), or None when the vertex is no instruction."""
    m = _VERTEX_STEP.match(vertex.strip())
    if not m:
        return None
    wanted = " ".join(m.group(2).split())
    keyword, _, rest = wanted.partition(" ")
    for number, line in instructions(text):
        word, _, args = " ".join(line.split()).partition(" ")
        if word.upper() == keyword.upper() and (args == rest or rest.startswith(args) or args.startswith(rest)):
            return number, line
    return None


def _expand(word: str, args: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(4)
        value = args.get(name)
        if m.group(2) == "-":
            return value if value else m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        return value or ""

    return _ARG_REF.sub(sub, word)


def normalize_image(ref: str) -> str:
    """Docker's full form: `python:3.11` -> `docker.io/library/python:3.11`; a tag defaults to latest."""
    first, _, rest = ref.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        ref = "docker.io/" + (ref if rest else "library/" + ref)
    name = ref.split("@")[0]
    if "@" not in ref and ":" not in name.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


def base_images(text: str, build_args: dict[str, str] | None = None) -> list[str]:
    """The external images the `FROM` lines name, in order, normalized; stages and `scratch` left out."""
    args: dict[str, str] = {}
    overrides = dict(build_args or {})
    stages: set[str] = set()
    seen: list[str] = []
    for line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:  # only ARGs before the first FROM apply to FROM lines
            for decl in rest.split():
                name, eq, default = decl.partition("=")
                args[name] = overrides.get(name, default.strip("\"'") if eq else overrides.get(name, ""))
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                continue
            image = _expand(words[0], args)
            earlier_stage = image.lower() in stages or image.isdigit()
            stages.add(words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else f"#{len(stages)}")
            if earlier_stage or image == "scratch":
                continue
            full = normalize_image(image)
            if full not in seen:
                seen.append(full)
    return seen
