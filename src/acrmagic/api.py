"""The public verbs. The magics, the command line and the views are thin layers over these.

A run's path: the verb turns flags into a request (`runrequest`), picks the target (`targets`) and
its observer (a `progress` display unless the caller gives one: a `RunObserver`), and hands all three to the one orchestration (`runner`).
"""

from __future__ import annotations

import time

from . import config, keyvalues, refs, runner, targets
from .errors import RunNotFound, UsageError, quoted
from .acrspec import DEFAULT_TIMEOUT
from .options import MAX_TOP, BuildOptions, TaskOptions
from .platforms import Platform
from .runrequest import QuickBuild, TaskRun
from .runs import model
from .runs.store import RunStore
from .states import run_status


def build(dockerfile: str | None = None, *, image: str | list[str] | None = None, registry: str | None = None,
          context: str = ".", file: str | None = None, build_args: dict | None = None,
          secret_build_args: dict | None = None, target: str | None = None, platform: str | Platform | None = None,
          push: bool = True, no_cache: bool = False, timeout: int = DEFAULT_TIMEOUT, logs: bool = True,
          agent_pool: str | None = None, wait: bool = True, observer=None) -> model.Run:
    """Build an image like `az acr build` and return the recorded run.

    `dockerfile` is the Dockerfile text; without it, `file` (default ``Dockerfile``) is read from the
    context. Raises a `RunError` subclass (with ``.run``) when the run does not succeed.
    """
    images = [image] if isinstance(image, str) else list(image or [])
    opts = BuildOptions(images=images, registry=registry, context=context, file=file, dockerfile_text=dockerfile,
                        build_args=keyvalues.parse(build_args, "--build-arg"),
                        secret_build_args=keyvalues.parse(secret_build_args, "--secret-build-arg", secret=True),
                        target=target, platform=_platform(platform), push=push, no_cache=no_cache, timeout=timeout, logs=logs,
                        agent_pool=agent_pool, wait=wait)
    return build_with(opts, observer)


def _platform(given: str | Platform | None) -> Platform | None:
    """`platform=` parsed at the edge, as `--platform` is (a Platform below it)."""
    if given is None or isinstance(given, Platform):
        return given
    try:
        return Platform.parse(given)
    except ValueError as e:
        raise UsageError(f"--platform: {e}") from None


def run(task: str | None = None, *, file: str | None = None, context: str = ".", set: dict | list | None = None,
        set_secret: dict | list | None = None, values: str | None = None, registry: str | None = None,
        timeout: int = DEFAULT_TIMEOUT, logs: bool = True, dry_run: bool = False, agent_pool: str | None = None,
        wait: bool = True, observer=None):
    """Run a multi-step task (ACR task YAML text, or `file`) like `az acr run`, and return the recorded run.

    With `dry_run`, nothing runs and the resolved plan (`acrmagic.taskfile.Plan`) is returned instead.
    Raises a `RunError` subclass (with ``.run``) when the run does not succeed."""
    opts = TaskOptions(task_text=task, file=file, context=context, set_values=keyvalues.parse(set, "--set"),
                       set_secrets=keyvalues.parse(set_secret, "--set-secret", secret=True),
                       values_file=values, registry=registry, timeout=timeout, dry_run=dry_run, logs=logs,
                       agent_pool=agent_pool, wait=wait)
    return run_with(opts, observer)


# -- what the magics and the command line call, with the options they parsed ------------------------------------
def _start(request: QuickBuild | TaskRun, opts: BuildOptions | TaskOptions, observer=None):
    from .progress import make_progress

    return runner.start(request, target=targets.choose(opts.registry), observer=observer or make_progress(opts.logs))


def _queue(request: QuickBuild | TaskRun, opts: BuildOptions | TaskOptions) -> model.Run:
    return runner.queue(request, target=targets.choose(opts.registry))


def build_with(opts: BuildOptions, observer=None) -> model.Run:
    """`build` from parsed flags (what `%%acrbuild` and `acrmagic build` parse)."""
    request = QuickBuild.from_options(opts)
    return _start(request, opts, observer).run() if opts.wait else _queue(request, opts)


async def build_with_async(opts: BuildOptions) -> model.Run:
    """The same, awaiting: a notebook cell stays responsive to its view's Cancel button."""
    request = QuickBuild.from_options(opts)
    return await _start(request, opts).run_async() if opts.wait else _queue(request, opts)


def run_with(opts: TaskOptions, observer=None):
    """`run` from parsed flags (what `%%acrtask` and `acrmagic run` parse); a Plan with --dry-run."""
    request = TaskRun.from_options(opts)
    if opts.dry_run:
        return request.plan("dryrun", targets.choose(opts.registry).registry)
    return _start(request, opts, observer).run() if opts.wait else _queue(request, opts)


async def run_with_async(opts: TaskOptions):
    request = TaskRun.from_options(opts)
    if opts.dry_run:
        return request.plan("dryrun", targets.choose(opts.registry).registry)
    return await _start(request, opts).run_async() if opts.wait else _queue(request, opts)


# -- history ----------------------------------------------------------------------------------------------------
def runs(status: str | None = None, task: str | None = None, top: int | None = None) -> model.RunList:
    """Recorded runs, newest first. With an ACR registry chosen, its own run history joins in (runs
    started elsewhere, e.g. by `az acr build` or a trigger in ACR); a run acrmagic recorded wins."""
    status = _status(status)
    if top is not None and (not isinstance(top, int) or not 1 <= top <= MAX_TOP):
        raise UsageError(f"runs: --top must be a whole number from 1 to {MAX_TOP}, got {quoted(top)}")
    found = RunStore().list(status=status, task=task, top=top)
    remote = _history_target()
    if remote is not None:
        known = {r.run_id for r in found}
        found += [r for r in remote.list_runs(status=status, task=task, top=top) if r.run_id not in known]
        found.sort(key=lambda r: r.create_time, reverse=True)
        found = found[:top] if top else found
    return model.RunList(found, query={"status": status, "task": task, "top": top})


def _history_target():
    """The chosen target, when it keeps a run history of its own (ACR); else None."""
    chosen = config.chosen_target()
    if chosen.get("kind") == "local":
        return None
    target = targets.from_config(chosen)
    return target if target.keeps_history else None


def _record(run_id: str) -> tuple[model.Run, object | None]:
    """A run as recorded here, or as the chosen ACR registry knows it; and the target that keeps it."""
    try:
        run = RunStore().get(run_id)
    except RunNotFound:
        remote = _history_target()
        if remote is None:
            raise
        return remote.get_run(run_id), remote
    if run.backend == "local":
        return run, None
    target = targets.from_record(run.target, run.registry)
    return run, (target if target.keeps_history else None)


def run_page(status: str | None = None, task: str | None = None, text: str | None = None, offset: int = 0,
             top: int = 50) -> tuple[list[model.Run], int]:
    """One page of the history (newest first) and how many runs match in all: what the history view shows."""
    store = RunStore()
    status = _status(status)
    return (store.list(status=status, task=task, text=text, top=top, offset=offset),
            store.count(status=status, task=task, text=text))


def _status(status: str | None) -> str | None:
    if not status:
        return None
    canonical = run_status(status)
    if canonical is None:
        raise UsageError(f"--status: unknown status {quoted(status)} (Queued, Running, Succeeded, Failed, Canceled, "
                         "Error, Timeout)")
    return canonical


def show(run_id: str) -> model.Run:
    run, remote = _record(run_id)
    if remote is not None and not run.finished and run.log_path:  # recorded here, going on in ACR: refresh it
        fresh = remote.get_run(run_id)
        for name in ("status", "start_time", "finish_time", "output_images", "error"):
            setattr(run, name, getattr(fresh, name))
        RunStore().save(run)
    return run


def logs(run_id: str) -> str:
    """The full log of a run: as recorded here, or (a cloud run followed elsewhere, or still going) from ACR."""
    run, remote = _record(run_id)
    text = run.log() if run.log_path else ""
    if remote is not None and (not run.finished or not text):
        return remote.run_log(run_id)
    return text


# -- where runs go ------------------------------------------------------------------------------------------
def use(registry: str | None = None, *, resource_group: str | None = None, subscription: str | None = None,
        identity: str | None = None, emulator: str | None = None) -> str:
    """Choose where new runs go, like `az acr` picks a registry: `use("myregistry", resource_group=...)`,
    `use("local")`, `use(emulator="emulator.json")`; `use()` only says where they go now. The choice is
    saved under ACRMAGIC_HOME (names and paths, no secrets); `-r` on one command overrides it."""
    from pathlib import Path

    if registry is None and emulator is None:
        if resource_group or subscription or identity:
            raise UsageError("use: -g/--subscription/--identity go with a registry name: use REGISTRY -g GROUP")
        return _said_with_principal(config.chosen_target())
    if emulator is not None:
        path = Path(emulator).expanduser()
        config.read_emulator_config(path)  # a config that would send a token or the identity header elsewhere: refused now
        if registry is not None:
            _registry_name(registry, acr_only=True)
        chosen = {"kind": "acr", "emulatorConfig": str(path.resolve()), "registry": registry, "identity": identity}
    elif registry == "local":
        chosen = {"kind": "local"}
    elif not _registry_name(registry):
        chosen = {"kind": "local", "registry": registry}
    else:
        chosen = {"kind": "acr", "registry": registry.split(".")[0], "resourceGroup": resource_group,
                  "subscription": subscription, "identity": identity}
    chosen = {k: v for k, v in chosen.items() if v is not None}
    config.save_target(chosen)
    # said with the path as the user gave it (saved notebooks carry no machine paths); kept absolute
    return _said_with_principal(chosen, {**chosen, "emulatorConfig": emulator} if emulator else chosen)


def _said_with_principal(chosen: dict, shown: dict | None = None) -> str:
    """Where runs go, and for the emulator who they run as: its credential signs in now, at its loopback
    endpoint, so a login problem shows at `use`. A real registry's credential signs in at the first run:
    DefaultAzureCredential would probe the instance metadata service, which choosing a target must not do."""
    from .errors import AcrMagicError

    where = targets.describe(shown or chosen)
    if chosen.get("kind") != "acr" or not chosen.get("emulatorConfig"):
        return where
    try:
        return f"{where}; signed in as {targets.from_config(chosen).signed_in_as()}"
    except AcrMagicError as e:
        return f"{where}; not signed in yet: {e.message}"


def _registry_name(registry: str, acr_only: bool = False) -> bool:
    """Is `registry` an ACR name (True) or a registry address (False)? Anything else is refused in one line."""
    refs.check_registry(registry, "use: REGISTRY")
    if acr_only and not refs.is_acr_name(registry):
        raise UsageError(f"use --emulator: {quoted(registry)} is not an ACR registry name (5 to 50 letters and digits)")
    return refs.is_acr_name(registry)


#: how long `cancel` lets the process that owns a run stop it cleanly before the target is told directly
OWNER_GRACE = 5.0


def cancel(run_id: str) -> model.Run:
    """Ask a running run to stop. Its own process (a kernel, a command, the scheduler) sees the request
    and records Canceled; if that process is gone or does not answer, the run's target cancels the
    work directly by the reference stored with the run. Returns the run as recorded now."""
    store = RunStore()
    try:
        run = store.get(run_id)
    except RunNotFound:  # a run acrmagic did not start: the chosen ACR registry cancels it
        remote = _history_target()
        if remote is None:
            raise
        remote.cancel(run_id)
        return remote.get_run(run_id)
    if run.finished:
        raise UsageError(f"cancel: run {run_id} is not running (it is {run.status})")
    store.request_cancel(run_id)
    target = targets.from_record(run.target, run.registry)
    if target.owner_cancels:
        deadline = time.monotonic() + OWNER_GRACE
        while store.owner_alive(run_id) and time.monotonic() < deadline:
            if store.get(run_id).finished:
                return store.get(run_id)
            time.sleep(0.1)
    if run.cancel_ref:
        target.cancel(run.cancel_ref)
    return store.get(run_id)
