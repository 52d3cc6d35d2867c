"""Starting a run of a task: its step as a run request (a quick build, or a task run), its source
(the folder, or exactly one commit of its git repository), through the one runner.

The same code checks a definition at create/update (`check`), so a task that is stored is a task
that can run: a Dockerfile that is missing, a task file that does not load, fail there, in one line.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .. import owner, runner, targets
from ..context import INLINE_DOCKERFILE
from ..errors import TaskFileError, UsageError
from ..platforms import Platform
from ..runrequest import QuickBuild, TaskRun
from ..runs.store import RunStore
from ..targets.base import Target
from ..textfiles import read_text
from .. import gitsource as git
from . import definition as d
from . import secrets


def git_token(resource: dict, home: str) -> str | None:
    return secrets.read(home, resource["name"], secrets.GIT_TOKEN, d.secret_ref(resource, secrets.GIT_TOKEN),
                        "the git access token")


def secret_values(resource: dict, home: str) -> dict[str, str]:
    out = {}
    for value in resource["properties"]["step"].get("values", []):
        if value.get("isSecret"):
            key = value["name"]
            found = secrets.read(home, resource["name"], key, d.secret_ref(resource, key), f"--set-secret {key}")
            if found is None:
                raise UsageError(f"task {resource['name']}: no value for the secret {key}: set "
                                 f"{secrets.env_name(resource['name'], key)}")
            out[key] = found
    return out


def request(resource: dict, folder: Path | None, home: str, shown_context: str | None = None) -> QuickBuild | TaskRun:
    """The run request of the task's step on `folder` (the context, checked out if it is git)."""
    props, ext = resource["properties"], resource.get(d.EXTENSION, {})
    step, name = props["step"], resource["name"]
    shown = shown_context or d.context(resource) or "/dev/null"
    recorded = {"task": name, "context": shown, "timeout": props["timeout"]}
    platform = Platform.from_json(props["platform"])
    if step["type"] == d.DOCKER:
        inline = ext.get("dockerfile")
        dockerfile = None if inline is not None else step["dockerFilePath"]
        if dockerfile and not (folder / dockerfile).is_file():
            raise UsageError(f"task {name}: -f/--file: no Dockerfile {dockerfile} in the context {shown}")
        args = {a["name"]: a["value"] for a in step.get("arguments", [])}
        return QuickBuild(context=str(folder), images=list(step["imageNames"]), dockerfile_text=inline,
                          dockerfile=dockerfile, build_args=args, target=step.get("target"), platform=platform,
                          push=step["isPushEnabled"], no_cache=step["noCache"], timeout=props["timeout"],
                          recorded={**recorded, "images": step["imageNames"], "file": dockerfile or INLINE_DOCKERFILE,
                                    "buildArgs": args, "push": step["isPushEnabled"]})
    values = {v["name"]: v["value"] for v in step.get("values", []) if not v.get("isSecret")}
    secret = secret_values(resource, home)
    if step["type"] == d.FILE_TASK:
        path = folder / step["taskFilePath"]
        if not path.is_file():
            raise TaskFileError(f"no task file {step['taskFilePath']} in the context {shown}", kind="load",
                                file=step["taskFilePath"])
        text, task_name = read_text(path, step["taskFilePath"]), step["taskFilePath"]
    else:
        text, task_name = d.decode(step["encodedTaskContent"]), "<encoded task>"
    values_text = None
    if step.get("valuesFilePath"):
        values_path = folder / step["valuesFilePath"]
        if not values_path.is_file():
            raise UsageError(f"task {name}: --values: no values file {step['valuesFilePath']} in the context {shown}")
        values_text = read_text(values_path, step["valuesFilePath"])
    return TaskRun(task_text=text, task_name=task_name, context=shown, context_path=folder, values_text=values_text,
                   values_file=step.get("valuesFilePath"), set_values=values, set_secrets=secret,
                   timeout=props["timeout"], recorded={**recorded, "file": task_name, "set": dict(values),
                                                       "setSecret": sorted(secret)})


def registry(resource: dict) -> str | None:
    return resource.get(d.EXTENSION, {}).get("registry")


@dataclass
class Source:
    """Where a run's files come from: a folder, or a checkout of one commit (removed after the run)."""

    folder: Path
    record: dict = field(default_factory=dict)  # laid over the run record's `source` (commit, branch, repository)
    temporary: bool = False

    def close(self) -> None:
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


def source(resource: dict, home: str, commit_id: str | None = None) -> Source:
    """The task's context for one run: a git context at `commit_id` (default: the branch head now)."""
    gitsrc = d.git_source(resource)
    if gitsrc is None:
        ctx = d.context(resource)
        if ctx is None:  # a task without source runs in an empty folder
            return Source(Path(tempfile.mkdtemp(prefix="acrmagic-task-")), {}, temporary=True)
        if not Path(ctx).is_dir():
            raise UsageError(f"task {resource['name']}: its context folder {ctx} no longer exists")
        return Source(Path(ctx))
    repo, branch, subdir = gitsrc
    token = git_token(resource, home)
    commit_id = commit_id or git.head(repo, branch, token)
    checkout = git.checkout(repo, commit_id, token, checkouts(home))
    try:
        folder = git.subfolder(checkout, subdir, f"task {resource['name']}: {repo} at {commit_id[:12]}")
    except UsageError:
        shutil.rmtree(checkout, ignore_errors=True)
        raise
    record = {"type": "git", "url": repo, "repository": repo, "branch": branch, "ref": commit_id,
              "commit": commit_id, "subdir": subdir}
    return Source(folder, record, temporary=True) if folder == checkout.resolve() else _Nested(folder, record, checkout)


CHECKOUTS = "checkouts"  # under ACRMAGIC_HOME: <owner process>/<one folder per run>


def checkouts(home: str) -> Path:
    """This process's folder of source checkouts: named for its owner (host:pid:start), so a process
    that starts after this one was killed finds and removes what it left (`remove_dead_checkouts`)."""
    folder = Path(home) / CHECKOUTS / owner.this_process()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def remove_dead_checkouts(home: str) -> list[str]:
    """Remove the checkouts of processes that no longer exist; the folders removed."""
    removed = []
    root = Path(home) / CHECKOUTS
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not owner.alive(folder.name):
            removed += [str(p) for p in sorted(folder.iterdir())]
            shutil.rmtree(folder, ignore_errors=True)
    return removed


class _Nested(Source):
    def __init__(self, folder: Path, record: dict, root: Path):
        super().__init__(folder, record, temporary=True)
        self.root = root

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def check(resource: dict, home: str) -> dict:
    """Raise what a run of this task would raise before it starts (unreachable repository, bad token,
    missing Dockerfile, a task file that does not load); nothing is recorded. Returns the source record
    (for a git task: the commit it would build now)."""
    src = source(resource, home)
    try:
        req = request(resource, src.folder, home)
        if isinstance(req, TaskRun):
            req.plan("dryrun", registry(resource) or "localhost:5000")
        return src.record
    finally:
        src.close()


@dataclass
class Launched:
    execution: object  # supervise.Execution
    source: Source


def start(resource: dict, *, home: str, observer, run_store: RunStore | None = None, trigger: dict | None = None,
          commit_id: str | None = None, target: Target | None = None,
          on_checkout: Callable[[Source], None] | None = None) -> Launched:
    """Start a run of the task (recorded; `.execution.run()` runs it). `trigger` as runner.start takes it;
    without one the run is a manual run of the task."""
    trigger = trigger or d.manual_trigger(resource["name"])
    src = source(resource, home, commit_id)
    try:
        if on_checkout:
            on_checkout(src)
        req = request(resource, src.folder, home)
        chosen = target or targets.choose(registry(resource))
        # the record names the repository and commit, not the temporary checkout the target was given
        execution = runner.start(req, target=chosen, observer=observer, store=run_store, trigger=trigger,
                                 source=src.record)
    except BaseException:
        src.close()
        raise
    return Launched(execution, src)
