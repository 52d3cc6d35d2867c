"""What a run asks for, whatever target it goes to: a quick build or a task run.

Built from the parsed flags (`options`), checked for what can be checked without a target (a bad flag
or file is one line, and nothing is recorded), never rendered: `{{.Run.ID}}` and `$Registry` are the
target's to fill in, since in ACR the service assigns the run ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import refs
from .acrspec import DEFAULT_TIMEOUT
from .context import is_git_url
from .errors import UsageError, quoted
from .platforms import DEFAULT as DEFAULT_PLATFORM, Platform
from .options import BuildOptions, TaskOptions
from .states import QUICK_BUILD, QUICK_RUN
from .textfiles import read_text  # one rule for every user file: UTF-8, or one clear line
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from .taskfile import Plan


class RunRequest(Protocol):
    """What every run request gives the runner and the targets (QuickBuild, TaskRun, StoredTaskRun)."""

    timeout: int  # seconds; the runner's deadline
    recorded: dict  # the request as the run store keeps it (secrets masked)
    run_type: ClassVar[str]  # ACR's runType of a run started by this request by hand

    @property
    def secrets(self) -> list[str]: ...  # values redacted wherever the run is shown or stored

    @property
    def agent_pool(self) -> str | None: ...


@dataclass
class QuickBuild:
    """`az acr build`: a Dockerfile and a context -> an image, pushed when tagged."""

    context: str  # a folder or a git URL, as the user gave it
    images: list[str] = field(default_factory=list)  # `-t` values, unrendered
    dockerfile_text: str | None = None  # the cell body
    dockerfile: str | None = None  # `-f`, relative to the context
    build_args: dict[str, str] = field(default_factory=dict)
    secret_build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: Platform | None = None
    push: bool = True
    no_cache: bool = False
    timeout: int = DEFAULT_TIMEOUT
    agent_pool: str | None = None
    recorded: dict = field(default_factory=dict)  # the flags as the run store keeps them (secrets masked)

    run_type = QUICK_BUILD

    @property
    def secrets(self) -> list[str]:
        return list(self.secret_build_args.values())

    @property
    def pushes(self) -> bool:
        """As az: push only when asked to and given a tag."""
        return self.push and bool(self.images)

    @classmethod
    def from_options(cls, opts: BuildOptions) -> "QuickBuild":
        if opts.dockerfile_text is not None and opts.file:
            raise UsageError("acrbuild: give the Dockerfile once: in the cell body or with -f, not both")
        if opts.dockerfile_text is not None and not opts.dockerfile_text.strip():
            raise UsageError("acrbuild: the cell is empty: write a Dockerfile in the cell, or pass -f FILE")
        for name in opts.images:
            render_image(name, "aa1", "localhost:5000")  # the grammar, with stand-in values
        return cls(context=opts.context, images=list(opts.images), dockerfile_text=opts.dockerfile_text,
                   dockerfile=opts.file, build_args=dict(opts.build_args),
                   secret_build_args=dict(opts.secret_build_args), target=opts.target, platform=opts.platform,
                   push=opts.push, no_cache=opts.no_cache, timeout=opts.timeout,
                   agent_pool=getattr(opts, "agent_pool", None), recorded=opts.recorded())


@dataclass
class TaskRun:
    """`az acr run`: a multi-step task file run on a context."""

    task_text: str
    task_name: str  # the file as the user named it, or <cell>
    context: str | None  # a folder (as given), a git URL, or None (no source)
    context_path: Path | None = None  # the folder, resolved
    values_text: str | None = None
    values_file: str | None = None  # as given, relative to the context
    set_values: dict[str, str] = field(default_factory=dict)
    set_secrets: dict[str, str] = field(default_factory=dict)
    timeout: int = DEFAULT_TIMEOUT
    agent_pool: str | None = None
    recorded: dict = field(default_factory=dict)

    run_type = QUICK_RUN

    @property
    def secrets(self) -> list[str]:
        return list(self.set_secrets.values())

    def plan(self, run_id: str, registry: str) -> "Plan":
        """Load and validate the task for a run (TaskFileError with file and line on bad input)."""
        from .taskfile import RunInfo, load  # the task-file engine: only for task runs

        run = RunInfo(id=run_id, registry=registry, date=datetime.now(timezone.utc),
                         shared_volume=f"acb_vol_{run_id}")
        return load(self.task_text, run, values_file=self.values_text, set_values=self.set_values,
                    secret_values=self.set_secrets, file=self.task_name, base_dir=self.context_path)

    @classmethod
    def from_options(cls, opts: TaskOptions) -> "TaskRun":
        if opts.task_text is not None and opts.file:
            raise UsageError("acrtask: give the task once: in the cell body or with -f, not both")
        if opts.file:
            path = Path(opts.file).expanduser()
            if not path.is_file():
                raise UsageError(f"-f/--file: no task file at {opts.file}")
            text, name = read_text(path, opts.file), opts.file
        elif opts.task_text is not None:
            text, name = opts.task_text, "<cell>"
        else:
            raise UsageError("acrtask: no task: write the task YAML in the cell, or pass -f FILE")
        if not text.strip():
            raise UsageError("acrtask: the cell is empty: write a task (version: v1.1.0, steps: ...) or pass -f FILE")
        context, context_path = opts.context, None
        if context == NO_SOURCE:  # as `az acr run ... /dev/null`: the task runs without source
            context = None
        elif not is_git_url(context):
            context_path = Path(opts.context).expanduser()
            if not context_path.is_dir():
                raise UsageError(f"--context: no such folder: {opts.context}")
            context_path = context_path.resolve()
        values_text = None
        if opts.values_file:
            if context_path is None:
                raise UsageError("--values: a values file is read from a folder context; this context is "
                                 + ("a git URL" if context else "none (/dev/null)"))
            values_path = context_path / opts.values_file
            if not values_path.is_file():
                raise UsageError(f"--values: no values file at {opts.values_file} in the context {opts.context}")
            values_text = read_text(values_path, opts.values_file)
        return cls(task_text=text, task_name=name, context=context, context_path=context_path,
                   values_text=values_text, values_file=opts.values_file,
                   set_values=dict(opts.set_values), set_secrets=dict(opts.set_secrets),
                   timeout=opts.timeout, agent_pool=getattr(opts, "agent_pool", None), recorded={**opts.recorded(), "task": text})


@dataclass
class StoredTaskRun:
    """`az acr task run`: a run of a task the registry keeps (ACR's TaskRunRequest). The task's steps
    and source are the registry's; only a target that keeps tasks (ACR) takes it."""

    task: str
    timeout: int = DEFAULT_TIMEOUT  # the task's own, for the runner's deadline
    agent_pool: str | None = None

    run_type = QUICK_RUN  # real ACR records a manual `az acr task run` as a QuickRun

    @property
    def secrets(self) -> list[str]:
        return []  # the task's secrets stay in the registry

    @property
    def recorded(self) -> dict:
        return {"task": self.task}


#: the context that means "no source", as az acr run and az acr task create read it
NO_SOURCE = "/dev/null"


# -- image names -------------------------------------------------------------------------------------------------
_RUN_TEMPLATE = re.compile(r"\{\{\s*\.Run\.(ID|Registry|RegistryName)\s*\}\}")
_RUN_ALIAS = re.compile(r"\$(ID|Registry|RegistryName)(?![A-Za-z0-9])")


def render_image(name: str, run_id: str, registry: str) -> str:
    """`-t` as `az acr build` reads it, rendered as ACR does: run variables replaced, the registry
    prefixed when the name has none, `:latest` when it has no tag. UsageError for a name Docker refuses."""
    values = {"ID": run_id, "Registry": registry, "RegistryName": registry.split(".")[0]}
    ref = _RUN_TEMPLATE.sub(lambda m: values[m.group(1)], name)
    ref = refs.with_default_tag(refs.qualify(_RUN_ALIAS.sub(lambda m: values[m.group(1)], ref), registry))
    try:
        refs.parse(ref)
    except ValueError as e:
        why = "at most 255 characters" if "at most" in str(e) else "lower-case name, optional :tag"
        raise UsageError(f"-t/--image: {quoted(name)} is not a valid image name ({why})") from None
    return ref


def platform_record(platform: Platform | None) -> dict:
    """`--platform` as ACR's Run resource records it (local and ACR runs alike: the architecture filled in)."""
    return (platform or DEFAULT_PLATFORM).to_json()
