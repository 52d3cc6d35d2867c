"""The one exception tree of acrmagic.

Every error a user can cause or meet derives from :class:`AcrMagicError`. Each renders as one clear
line in a notebook (``_render_traceback_``), is a real exception (so nbval, papermill and scripts see
the failure), and never carries a secret value: messages pass through the run's redactor first.
"""

from __future__ import annotations

from .redact import strip_sas


_LINE_BREAKS = {c: repr(chr(c))[1:-1] for c in (0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029)}


def one_line(text: str) -> str:
    """`text` with its line breaks written as escapes (a value with a newline cannot split a message)."""
    return text.translate(_LINE_BREAKS)


def quoted(value, limit: int = 60) -> str:
    """A value as a message quotes it: repr'd and cut, so a 100 KB input still makes one short line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


#: the longest headline an error shows; its own quotes are cut shorter still (`quoted`)
MAX_MESSAGE = 1000


def shown(value, limit: int = 60) -> str:
    """A name as a message shows it: as it is when short and printable, else `quoted`."""
    if isinstance(value, str) and len(value) <= limit and value.isprintable() and " " not in value:
        return value
    return quoted(value, limit)


class AcrMagicError(Exception):
    """Base of every acrmagic error. Its message is one line, whatever a value quoted in it holds, and
    never holds a SAS signature."""

    def __init__(self, message: str, *, details: list[str] | None = None):
        message = one_line(strip_sas(message))  # no message carries a storage signature, whoever quotes a URL
        if len(message) > MAX_MESSAGE:  # a value pasted into a message (a 100 KB argument) never floods a screen
            tail = f"... ({len(message)} characters)"
            message = message[:MAX_MESSAGE - len(tail)] + tail
        super().__init__(message)
        self.message = message
        #: extra lines shown under the headline (e.g. the last log lines of a failed step)
        self.details = list(details or [])

    def __str__(self) -> str:
        return "\n".join([self.message, *("  " + d for d in self.details)])

    def _render_traceback_(self) -> list[str]:
        # IPython shows this instead of a Python traceback.
        head = f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self.message}"
        return [head, *("  " + d for d in self.details)]


class UsageError(AcrMagicError):
    """A bad flag, file or value given by the user; nothing ran."""


class ContextError(UsageError):
    """The build context (folder, git URL, Dockerfile) cannot be read."""


class BadDelivery(UsageError):
    """A signed webhook delivery whose payload is not what its event documents (answered 400)."""


class TaskFileError(UsageError):
    """A task file failed to load, render, parse or validate; nothing ran."""

    def __init__(self, message: str, *, kind: str = "validation", file: str | None = None,
                 line: int | None = None, column: int | None = None, step: str | None = None):
        self.kind, self.file, self.line, self.column, self.step = kind, file, line, column, step
        where = file or "<task>"
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        prefix = f"{where}: " + (f"step {step}: " if step else "")
        super().__init__(prefix + message)
        self.reason = message


class EngineUnavailable(AcrMagicError):
    """The Docker engine does not answer. Hosted notebooks (Binder, JupyterHub) usually have none: the
    one line also says how to build in ACR instead, which needs no engine here."""

    CLOUD_ROUTE = ("no engine on a hosted notebook (Binder, JupyterHub)? build in ACR instead: "
                   "`%acr use REGISTRY -g GROUP` (`acrmagic use` in a shell; a device-code login where no browser opens)")

    def __init__(self, message: str, *, details: list[str] | None = None):
        super().__init__(f"{message}; {self.CLOUD_ROUTE}", details=details)


class RegistryUnavailable(AcrMagicError):
    """The registry does not answer."""


class RegistryError(AcrMagicError, OSError):
    """A registry's HTTP API did not answer, or answered with an error status (`status`, else None).
    An OSError too, as connection failures are: a caller that tolerates one tolerates both."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class StoreError(AcrMagicError):
    """The run store cannot be read or written."""


class RunNotFound(AcrMagicError):
    """No run with that ID in the store (or in the registry's run history)."""


class AuthenticationFailed(AcrMagicError):
    """No Azure credential could get a token: the message names what was tried and what to do."""


class CloudUnavailable(AcrMagicError):
    """Azure (or the emulator) does not answer."""


class CloudError(AcrMagicError):
    """The ACR service refused a request (unknown registry, a SKU without tasks, an upload that failed)."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code, self.status = code, status


class RunError(AcrMagicError):
    """A run ended in a state other than Succeeded. ``run`` is the recorded run."""

    status = "Failed"

    def __init__(self, message: str, run=None, *, details: list[str] | None = None):
        super().__init__(message, details=details)
        self.run = run


class RunFailed(RunError):
    status = "Failed"


class RunCanceled(RunError):
    status = "Canceled"


class RunTimedOut(RunError):
    status = "Timeout"


class RunErrored(RunError):
    """The run could not be carried out (engine lost, process died)."""

    status = "Error"


RUN_ERRORS = {cls.status: cls for cls in (RunFailed, RunCanceled, RunTimedOut, RunErrored)}


# -- internal: raised and caught inside acrmagic, never shown to a user as they are -------------------------------

class HelpShown(AcrMagicError):
    """`-h` printed the help: the command stops here (without killing the kernel)."""

    def __init__(self):
        super().__init__("help shown")


class EngineError(AcrMagicError):
    """The Docker engine answered with an error status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class BuildFailed(AcrMagicError):
    """A build or push that the engine refused or that failed; `message` is the engine's reason."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code


class EngineLost(BuildFailed):
    """The Docker engine went away under a build or push (stopped or died): the run could not be carried
    out, so it is recorded Error (RunErrored), not Failed."""


class StepFailed(AcrMagicError):
    """One attempt of a task step failed (the scheduler decides about retries and the run)."""

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        self.exit_code = exit_code


class TemplateError(AcrMagicError):
    """A task file's Go template failed; `phase` is "parse" or "exec"; the message reads like Go's."""

    def __init__(self, phase: str, message: str, line: int | None = None):
        super().__init__(message)
        self.phase, self.line = phase, line


class YamlTagMismatch(AcrMagicError):
    """An explicit YAML tag the value does not fit (`!!int abc`): yaml.v2 stops decoding there."""


class TemplateBreak(AcrMagicError):
    """`{{break}}` inside a template's range (control flow, never shown)."""

    def __init__(self):
        super().__init__("break")


class TemplateContinue(AcrMagicError):
    """`{{continue}}` inside a template's range (control flow, never shown)."""

    def __init__(self):
        super().__init__("continue")


class EmulatorError(AcrMagicError):
    """The ACR emulator cannot start or serve (Azurite missing, a port taken, a bad configuration)."""


class ArmError(AcrMagicError):
    """An ARM error answer of the emulator: ``{"error": {"code", "message"[, "target"]}}`` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str, *, target: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.target = status, code, target
        self.headers = headers or {}


class SourceUnavailable(EmulatorError):
    """The emulator cannot fetch a run's source when it starts (offline, a missing folder, a bad ref):
    that run fails with this one line."""


class StepStopped(AcrMagicError):
    """The run is stopping (another step failed, cancel, run timeout): a step leaves at once."""

    def __init__(self, message: str = "stopped"):
        super().__init__(message)
