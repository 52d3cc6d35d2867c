"""`.dockerignore` rules: which ignore file a build reads, its patterns, and the paths they leave in.

`<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`, as BuildKit
reads them. Matching is the docker SDK's (Docker's semantics for `**`, `!` and parent folders), minus its
two departures from Docker: it lower-cases names and patterns, and it always re-includes `.dockerignore`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import ContextError  # one line, whatever path it quotes
from ..textfiles import decode


def read_ignore_file(path: Path) -> list[str]:
    """Patterns of an ignore file, read as Docker reads it: a UTF-8 BOM dropped, `#` only at the very
    start of a line makes a comment, blank lines skipped, each pattern trimmed."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ContextError(f"cannot read {path}: {e.strerror}") from None
    text = decode(data, path.name)  # not UTF-8: one line naming the file, the line and the byte
    return [line.strip() for line in text.splitlines() if not line.startswith("#") and line.strip()]


def read_dockerignore(root: Path, dockerfile: Path | None = None) -> list[str]:
    """The exclusion patterns for a context: `<Dockerfile>.dockerignore` beside the Dockerfile when it
    exists (as BuildKit reads it), else the context's `.dockerignore`, else none."""
    for candidate in ([Path(f"{dockerfile}.dockerignore")] if dockerfile else []) + [Path(root) / ".dockerignore"]:
        if candidate.is_file():
            return read_ignore_file(candidate)
    return []


def matcher(patterns: list[str]):
    """The docker SDK's PatternMatcher for `patterns`, made to match as Docker does (see `Matcher`)."""
    from docker.utils.build import Pattern, PatternMatcher
    from docker.utils.fnmatch import translate

    class DockerPattern(Pattern):
        """Case-sensitive, and `\\` escapes the next character (moby's rule on Linux; the SDK takes it literally)."""

        def __init__(self, text: str):
            super().__init__(text)
            parts = re.split(r"(\\.)", self.cleaned_pattern)  # escapes at odd indexes: `\\x` -> x, literally
            self.regex = re.compile("".join(re.escape(p[1]) if i % 2 else translate(p)[1:-1]
                                            for i, p in enumerate(parts) if p) + r"\Z", re.DOTALL)

        def match(self, filepath):
            return self.regex.match(filepath) is not None

    class Matcher(PatternMatcher):
        """The SDK's matcher (the last matching pattern, on the path or a parent folder, decides),
        minus its departures from Docker: it lower-cases, and it always re-includes `.dockerignore`."""

        def __init__(self, texts: list[str]):
            super().__init__([])
            self.patterns = [p for p in map(DockerPattern, texts) if p.dirs]

        @property
        def exclusions(self) -> bool:
            return any(p.exclusion for p in self.patterns)

        def may_re_include_under(self, folder: str) -> bool:
            """Whether a `!` pattern names something inside `folder` (fsutil's test before it skips one)."""
            return any(p.exclusion and (p.cleaned_pattern + "/").startswith(folder + "/") for p in self.patterns)

    return Matcher(patterns)


def included(root: Path, patterns: list[str]) -> list[str]:
    """Paths (files, folders, links; relative, sorted) under `root` that `patterns` leave in."""
    try:
        if not patterns:  # nothing to exclude: no matcher needed (and the docker SDK's import is not paid)
            out = []
            for folder, dirs, files in os.walk(root, onerror=_raise):
                rel = os.path.relpath(folder, root)
                out.extend(os.path.normpath(os.path.join(rel, n)) for n in dirs + files)
            return sorted(out)
        return sorted(matcher(patterns).walk(str(root)))
    except OSError as e:
        raise ContextError(f"cannot read {e.filename or root} for the build context: {e.strerror}") from None


def context_files(root: Path, dockerfile: Path | None = None) -> list[str]:
    """What of the folder `root` goes into a build's context: everything its ignore file leaves in."""
    return included(root, read_dockerignore(root, dockerfile))


def _raise(error: OSError):
    raise error
