"""A `requirements.txt` pinned to what the running Python (the notebook's kernel) has installed.

A model saved with joblib or pickle is read back by the same classes that wrote it: an image that
installs another scikit-learn (or numpy) than the kernel that trained the model may refuse it or,
worse, load it and predict differently. `requirements("scikit-learn", "fastapi")` pins the named
distributions and, by default, everything they depend on, to the kernel's versions.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import UsageError


def requirements(*names: str, dependencies: bool = True, path: str | Path | None = None) -> str:
    """The lines of a requirements file, `name==version` for each distribution `names` gives (as pip
    spells them, extras allowed: `"uvicorn[standard]"`) and, with `dependencies`, for every distribution
    they need on this platform, sorted by name. With `path`, the text is written there too.

    A name the running environment has not installed raises UsageError naming it."""
    if not names:
        raise UsageError("requirements(): name at least one distribution, e.g. requirements('scikit-learn')")
    env = default_environment()
    pinned: dict[str, str] = {}  # canonical name -> "Name==version"
    seen: set[tuple[str, frozenset]] = set()  # (name, extras) whose dependencies are queued already
    wanted: list[tuple[Requirement, str | None]] = []
    for name in names:
        try:
            wanted.append((Requirement(name), None))
        except InvalidRequirement as e:
            raise UsageError(f"requirements(): {name!r} is not a distribution name: {e}") from None
    while wanted:
        req, needed_by = wanted.pop()
        key = canonicalize_name(req.name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            if needed_by is None:
                raise UsageError(f"requirements(): {req.name} is not installed in this Python ({_where()}); "
                                 f"install it (pip install {req.name}) or leave it out") from None
            continue  # an optional dependency this environment does without: the image can too
        pinned[key] = f"{dist.metadata['Name']}=={dist.version}"
        if not dependencies or (key, frozenset(req.extras)) in seen:
            continue
        seen.add((key, frozenset(req.extras)))
        for line in dist.requires or []:
            dep = Requirement(line)
            # a dependency counts when its marker holds here, for no extra or for an extra that was asked for
            extras = req.extras or {""}
            if dep.marker is not None and not any(dep.marker.evaluate({**env, "extra": e}) for e in extras):
                continue
            wanted.append((dep, key))
    text = "".join(line + "\n" for _, line in sorted(pinned.items()))
    if path is not None:
        Path(path).write_text(text)
    return text


def _where() -> str:
    import sys

    return sys.executable
