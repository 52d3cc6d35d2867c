"""The public verbs. The magics and the command line are thin layers over these."""

from __future__ import annotations

from .errors import UsageError
from .options import DEFAULT_TIMEOUT, BuildOptions, TaskOptions
from .runs import model
from .runs.store import RunStore


def build(dockerfile: str | None = None, *, image: str | list[str] | None = None, registry: str | None = None,
          context: str = ".", file: str | None = None, build_args: dict | None = None,
          secret_build_args: dict | None = None, target: str | None = None, platform: str | None = None,
          push: bool = True, no_cache: bool = False, timeout: int = DEFAULT_TIMEOUT, logs: bool = True,
          progress=None) -> model.Run:
    """Build an image like `az acr build` and return the recorded run.

    `dockerfile` is the Dockerfile text; without it, `file` (default ``Dockerfile``) is read from the
    context. Raises a `RunError` subclass (with ``.run``) when the run does not succeed.
    """
    images = [image] if isinstance(image, str) else list(image or [])
    opts = BuildOptions(images=images, registry=registry, context=context, file=file, dockerfile_text=dockerfile,
                        build_args={k: str(v) for k, v in (build_args or {}).items()},
                        secret_build_args={k: str(v) for k, v in (secret_build_args or {}).items()},
                        target=target, platform=platform, push=push, no_cache=no_cache, timeout=timeout, logs=logs)
    return _build(opts, progress)


def _build(opts: BuildOptions, progress=None) -> model.Run:
    """The magics and the command line come here with options they parsed."""
    from .quickbuild import quick_build

    return quick_build(opts, progress=progress)


async def _build_async(opts: BuildOptions) -> model.Run:
    """The same, awaiting: a notebook cell stays responsive to its view's Cancel button."""
    from .quickbuild import prepare_build

    return await prepare_build(opts).run_async()


async def _run_task_async(opts: TaskOptions):
    from .taskrun import plan_task, prepare_run

    if opts.dry_run:
        return plan_task(opts)
    return await prepare_run(opts).run_async()


def run(task: str | None = None, *, file: str | None = None, context: str = ".", set: dict | list | None = None,
        set_secret: dict | list | None = None, values: str | None = None, registry: str | None = None,
        timeout: int = DEFAULT_TIMEOUT, logs: bool = True, dry_run: bool = False, progress=None):
    """Run a multi-step task (ACR task YAML text, or `file`) like `az acr run`, and return the recorded run.

    With `dry_run`, nothing runs and the resolved plan (`acrmagic.taskfile.Plan`) is returned instead.
    Raises a `RunError` subclass (with ``.run``) when the run does not succeed."""
    opts = TaskOptions(task_text=task, file=file, context=context, set_values=_pairs(set), set_secrets=_pairs(set_secret),
                       values_file=values, registry=registry, timeout=timeout, dry_run=dry_run, logs=logs)
    return _run_task(opts, progress)


def _pairs(items: dict | list | None) -> list[str]:
    if isinstance(items, dict):
        return [f"{k}={v}" for k, v in items.items()]
    return list(items or [])


def _run_task(opts: TaskOptions, progress=None):
    from .taskrun import plan_task, quick_run

    if opts.dry_run:
        return plan_task(opts)
    return quick_run(opts, progress=progress)


def runs(status: str | None = None, task: str | None = None, top: int | None = None) -> model.RunList:
    """Recorded runs, newest first."""
    if status and status.capitalize() not in {model.QUEUED, model.RUNNING, *model.TERMINAL}:
        raise UsageError(f"--status: unknown status {status!r} (Queued, Running, Succeeded, Failed, Canceled, "
                         "Error, Timeout)")
    return model.RunList(RunStore().list(status=status, task=task, top=top),
                         query={"status": status, "task": task, "top": top})


def show(run_id: str) -> model.Run:
    return RunStore().get(run_id)


def logs(run_id: str) -> str:
    """The full recorded log of a run."""
    return RunStore().get(run_id).log()


def cancel(run_id: str) -> model.Run:
    """Ask a running run to stop: flag it in the store (its owner records Canceled) and cancel the
    engine's work it started. Returns the run as recorded now."""
    store = RunStore()
    run = store.get(run_id)
    if run.finished:
        raise UsageError(f"cancel: run {run_id} is not running (it is {run.status})")
    engine_ref = store.request_cancel(run_id)
    if engine_ref and run.backend == "local":
        from .targets.local.builds import LocalBackend

        LocalBackend().cancel(engine_ref)
    return store.get(run_id)
