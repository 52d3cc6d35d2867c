"""acrmagic's offline ACR emulator: `acrmagic emulator` / `python -m acrmagic.emulator`.

A real HTTPS service (Starlette on uvicorn, a local trustme CA) that answers the ARM calls the Azure
SDKs and the Azure CLI make for ACR quick builds and runs, with tokens from its own managed-identity
endpoint, sources and logs in Azurite, and runs executed on the local Docker engine (so a build
pushes a real image to the local registry).

    app.py          the management routes        identity.py   token endpoint, JWT issue/verify
    arm.py          error bodies, api-versions   state.py      registries, groups, uploads, runs, tasks
    run_requests.py scheduleRun body -> job      run_driver.py a run's life, log blob, timeout
    request_fields.py  a request body's fields, read (or an ARM 400 naming the field)
    tasks_api.py    task resources, task runs    task_runs.py  taskRun resources
    sources.py      uploads, git, --context-root triggers.py   commit, base-image and timer triggers
    execute.py      RunExecutor (the work)       filters.py    OData $filter for runs
    blobs.py        Azurite blob I/O, SAS        azurite.py    the Azurite process
    tls.py          the local CA                 server.py     assembly, start-up line, shut-down

It is the service side written from the API's definitions (acrmagic.acrspec holds the rules the
client shares), held against the service's recorded answers (tests/data/acr_recorded); it imports
none of the client's code (acrmagic.tasks, runs, targets.acr).
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main

    return _main(argv)


__all__ = ["main"]
