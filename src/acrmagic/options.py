"""The flags of each verb, in one place: the magics and the command line parse with the same parsers,
so `%%acrbuild -t x` and `acrmagic build -t x` mean the same (and follow `az acr build`'s names)."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field

from . import keyvalues
from .acrspec import DEFAULT_TIMEOUT  # az acr build's and ACR's default, seconds
from .errors import HelpShown, UsageError, one_line  # noqa: F401 (HelpShown: the parsers' -h, caught by callers)
from .platforms import Platform



class Parser(argparse.ArgumentParser):
    """argparse that raises a one-line UsageError naming the command instead of exiting.

    Arguments added with ``secret=True`` never appear in a message: argparse quotes the text it
    could not use (an ambiguous ``--se=K=V``, leftovers), so every error is scrubbed of them.

    argparse keeps its list of actions private (``_actions``), so the parser keeps its own record of
    what it needs from them: the secret options (its own and its `parents=`') and its sub-commands."""

    def __init__(self, *args, parents=(), **kwargs):
        #: the option strings of the secret arguments, with those of the parent parsers
        self.secret_flags: list[str] = [f for parent in parents if isinstance(parent, Parser) for f in parent.secret_flags]
        self._subcommand_sets: list[argparse.Action] = []  # what add_subparsers returned
        self._argv: list[str] = []  # the text error() must scrub
        super().__init__(*args, parents=list(parents), **kwargs)

    def add_argument(self, *args, secret: bool = False, **kwargs):
        action = super().add_argument(*args, **kwargs)
        if secret:
            self.secret_flags.extend(action.option_strings)
        return action

    def add_subparsers(self, **kwargs):
        subcommands = super().add_subparsers(**kwargs)
        self._subcommand_sets.append(subcommands)
        return subcommands

    def subcommands(self) -> list[Parser]:
        """The parsers of this parser's sub-commands, each once (aliases share a parser)."""
        return list(dict.fromkeys(sub for subs in self._subcommand_sets for sub in subs.choices.values()))

    def all_secret_flags(self) -> list[str]:
        """The secret options of this parser and of its sub-commands (whose text this parser may quote)."""
        return self.secret_flags + [f for sub in self.subcommands() for f in sub.all_secret_flags()]

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _get_values(self, action, arg_strings):
        # `--flag=--`: argparse (3.11) drops the "--" as if it ended the options and stores [] instead
        # of a value; take "--" as the value it is (the type check then judges it). argparse has no public
        # hook for this: overriding its private method is the one way short of re-parsing argv by hand.
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            return self._get_value(action, "--")
        return super()._get_values(action, arg_strings)

    def error(self, message: str):
        message = _ARGUMENT.sub(r"\1: ", message)  # "argument --timeout: x" -> "--timeout: x"
        for text in sorted(self._secret_texts(), key=len, reverse=True):
            for form in {text, repr(text)[1:-1], one_line(text)}:  # as given, as %r quotes it, as escaped
                # whole words only (as argparse quotes or lists them): a short value leaves others' words alone
                message = re.sub(rf"(?<![^\s'\"=]){re.escape(form)}(?![^\s'\",)])", "***", message)
        raise UsageError(f"{self.prog}: {message}")  # one line: every acrmagic error escapes its breaks

    def _secret_texts(self) -> set[str]:
        """The values given to secret options in this parser's argv (KEY=VALUE, all of it)."""
        flags = self.all_secret_flags()
        argv, out = self._argv, set()
        for i, token in enumerate(argv):
            name, eq, value = token.partition("=")
            # argparse takes any unambiguous prefix of a long option (--secret-b for --secret-build-arg),
            # and a mistyped secret flag (--set-secrets) still carries a secret
            prefix = name.startswith("--") and len(name) > 2 and any(f.startswith(name) for f in flags)
            typo = name.startswith("-") and (any(w in name.lower() for w in ("secret", "token", "password"))
                                             or _close_to_one_of(name, flags))
            if not (name in flags or prefix or typo):
                continue
            given = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            out.update(t for t in (given, token if eq else "", given.partition("=")[2]) if t)
        return out

    def exit(self, status=0, message=None):  # -h prints help, then stop without killing the kernel
        if message:
            raise UsageError(message.strip())
        raise HelpShown()


def _close_to_one_of(name: str, flags: list[str]) -> bool:
    import difflib  # only when a parse failed: not paid by every command

    return bool(difflib.get_close_matches(name, flags, n=1, cutoff=0.8))


_ARGUMENT = re.compile(r"^argument (\S+): ")


def key_value(flag: str, secret: bool = False):
    """An argparse type: KEY=VALUE -> (KEY, VALUE), by the one parser (`keyvalues`)."""
    def parse(text: str) -> tuple[str, str]:
        try:
            return keyvalues.split(text, secret)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parse.__name__ = flag
    return parse


#: the longest --timeout taken: a year (sleeps and deadlines far beyond overflow the clock's types)
MAX_TIMEOUT = 365 * 24 * 3600


MAX_TOP = 1_000_000  # `--top`: far past any history, and inside SQLite's integers


def top_count(text: str) -> int:
    """`--top N`: a whole number from 1 to MAX_TOP."""
    if not re.fullmatch(r"\s*[+]?[0-9]+\s*", text) or not 1 <= int(text) <= MAX_TOP:
        raise argparse.ArgumentTypeError(f"expected a number of runs from 1 to {MAX_TOP}, got {text[:40]!r}")
    return int(text)


def positive_int(text: str) -> int:
    """Seconds: a positive whole number (ASCII digits, as az reads it)."""
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}")
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    if value > MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"at most {MAX_TIMEOUT} seconds (a year), got {text!r}")
    return value


def parse_platform(text: str) -> Platform:
    """`--platform os[/arch[/variant]]`: a Platform, or the flag's one-line message."""
    try:
        return Platform.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _context(ns: argparse.Namespace, prog: str) -> str:
    """--context or the positional SOURCE_LOCATION (as az takes it), default the current folder."""
    if ns.context_flag and ns.source and ns.context_flag != ns.source:
        raise UsageError(f"{prog}: give the context once, either --context or SOURCE_LOCATION")
    return ns.context_flag or ns.source or "."


# -- flag groups: each adds its flags to the parser being made; build_parser and run_parser call them in order --
def _registry_flag(p: Parser, help: str) -> None:
    p.add_argument("-r", "--registry", help=help)


def _source_flags(p: Parser, context_help: str, what: str) -> None:
    """--context or the positional SOURCE_LOCATION, as az takes it (`_context` picks one)."""
    p.add_argument("--context", dest="context_flag", metavar="PATH_OR_URL", help=context_help)
    p.add_argument("source", nargs="?", metavar="SOURCE_LOCATION", help=f"the {what} context, as a positional")


def _timeout_flag(p: Parser, help: str) -> None:
    p.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT, help=help)


def _following_flags(p: Parser) -> None:
    """How the caller follows the run: its log shown or not, waited for or only queued, on which pool."""
    p.add_argument("--no-logs", action="store_true", help="do not show the log while it runs (it is still kept)")
    p.add_argument("--agent-pool", metavar="NAME", help="the ACR agent pool to run on (ACR only)")
    p.add_argument("--no-wait", action="store_true",
                   help="queue the run and return its ID without following it (ACR only; then `logs ID`)")


def _help_flag(p: Parser) -> None:
    p.add_argument("-h", "--help", action="help", help="show this help")


def _image_flags(p: Parser) -> None:
    p.add_argument("-t", "--image", action="append", default=[], metavar="NAME:TAG",
                   help="image name and tag; repeatable. A name without a registry gets the run's registry. "
                        "{{.Run.ID}}, {{.Run.Registry}}, $ID and $Registry are replaced.")


def _dockerfile_flags(p: Parser) -> None:
    p.add_argument("-f", "--file", help="Dockerfile path relative to the context (instead of the cell body)")
    p.add_argument("--build-arg", action="append", default=[], type=key_value("--build-arg"), metavar="KEY=VALUE")
    p.add_argument("--secret-build-arg", action="append", default=[], type=key_value("--secret-build-arg", secret=True),
                   metavar="KEY=VALUE", secret=True, help="a build argument whose value never appears in logs or records")
    p.add_argument("--target", help="the build stage to build")
    p.add_argument("--platform", type=parse_platform, help="platform of the image: os[/architecture[/variant]], e.g. linux/amd64")
    p.add_argument("--no-push", action="store_true", help="build only; do not push")
    p.add_argument("--no-cache", action="store_true", help="do not use the build cache")


def _task_file_flag(p: Parser) -> None:
    p.add_argument("-f", "--file", help="task file (instead of the cell body); relative to the current folder")


#: --set-secret's help where the value is used by this run only (a task definition says where it is kept instead)
RUN_SECRET_HELP = "never shown in logs, records or outputs"


def add_value_flags(p: Parser, secret_help: str = RUN_SECRET_HELP) -> None:
    """--set, --set-secret and --values: a run's (`acrtask`) and a task definition's (`task create|update`).
    Each KEY=VALUE is a (KEY, VALUE) pair; a flag not given is None (an update then keeps what the task has)."""
    p.add_argument("--set", action="append", type=key_value("--set"), metavar="KEY=VALUE",
                   help="a value for {{.Values.KEY}}; repeatable")
    p.add_argument("--set-secret", action="append", metavar="KEY=VALUE", secret=True,
                   type=key_value("--set-secret", secret=True),
                   help=f"a secret value for {{{{.Values.KEY}}}}: {secret_help}; repeatable")
    p.add_argument("--values", metavar="FILE", help="a YAML values file, relative to the context")


def _dry_run_flag(p: Parser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the resolved plan and run nothing")


def build_parser(prog: str = "acrbuild") -> Parser:
    p = Parser(prog=prog, add_help=False, description=(
        "Build an image from a Dockerfile (the cell body, or -f FILE) and a context, on the local engine "
        "with BuildKit, and push it when a tag is given (like `az acr build`)."))
    _image_flags(p)
    _registry_flag(p, "registry to push to (default: ACRMAGIC_REGISTRY or localhost:5000)")
    _source_flags(p, "build context: a folder (default: the current folder) or a git URL repo.git#ref:subdir", "build")
    _dockerfile_flags(p)
    _timeout_flag(p, f"seconds (default {DEFAULT_TIMEOUT})")
    _following_flags(p)
    _help_flag(p)
    return p


@dataclass
class BuildOptions:
    images: list[str] = field(default_factory=list)
    registry: str | None = None
    context: str = "."
    file: str | None = None
    dockerfile_text: str | None = None  # the cell body
    build_args: dict[str, str] = field(default_factory=dict)
    secret_build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    platform: Platform | None = None
    push: bool = True
    no_cache: bool = False
    timeout: int = DEFAULT_TIMEOUT
    logs: bool = True
    agent_pool: str | None = None
    wait: bool = True

    @classmethod
    def from_argv(cls, argv: list[str], dockerfile_text: str | None = None, prog: str = "acrbuild") -> "BuildOptions":
        ns = build_parser(prog).parse_args(argv)
        return cls(images=ns.image, registry=ns.registry, context=_context(ns, prog),
                   file=ns.file, dockerfile_text=dockerfile_text, build_args=dict(ns.build_arg),
                   secret_build_args=dict(ns.secret_build_arg), target=ns.target, platform=ns.platform,
                   push=not ns.no_push, no_cache=ns.no_cache, timeout=ns.timeout, logs=not ns.no_logs,
                   agent_pool=ns.agent_pool, wait=not ns.no_wait)

    def recorded(self) -> dict:
        """The request as the run store keeps it: secret build-arg values left out."""
        return {"images": self.images, "registry": self.registry, "context": self.context, "file": self.file,
                "buildArgs": self.build_args, "secretBuildArgs": sorted(self.secret_build_args),
                "target": self.target, "platform": str(self.platform) if self.platform else None, "push": self.push, "noCache": self.no_cache,
                "timeout": self.timeout, "agentPool": self.agent_pool}


def run_parser(prog: str = "acrtask") -> Parser:
    p = Parser(prog=prog, add_help=False, description=(
        "Run a multi-step task (ACR task YAML, the cell body or -f FILE) on the local engine, like `az acr run`."))
    _task_file_flag(p)
    _source_flags(p, "source context, mounted at /workspace (default: the current folder)", "source")
    add_value_flags(p)
    _registry_flag(p, "the run registry ($Registry; default localhost:5000)")
    _timeout_flag(p, f"seconds for the whole run (default {DEFAULT_TIMEOUT})")
    _dry_run_flag(p)
    _following_flags(p)
    _help_flag(p)
    return p


@dataclass
class TaskOptions:
    task_text: str | None = None
    file: str | None = None
    context: str = "."
    set_values: dict[str, str] = field(default_factory=dict)
    set_secrets: dict[str, str] = field(default_factory=dict)
    values_file: str | None = None
    registry: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    dry_run: bool = False
    logs: bool = True
    agent_pool: str | None = None
    wait: bool = True

    @classmethod
    def from_argv(cls, argv: list[str], task_text: str | None = None, prog: str = "acrtask") -> "TaskOptions":
        ns = run_parser(prog).parse_args(argv)
        return cls(task_text=task_text, file=ns.file, context=_context(ns, prog),
                   set_values=dict(ns.set or ()), set_secrets=dict(ns.set_secret or ()), values_file=ns.values, registry=ns.registry,
                   timeout=ns.timeout, dry_run=ns.dry_run, logs=not ns.no_logs, agent_pool=ns.agent_pool,
                   wait=not ns.no_wait)

    def recorded(self) -> dict:
        return {"file": self.file, "context": self.context, "set": self.set_values,
                "setSecret": sorted(self.set_secrets), "values": self.values_file,
                "registry": self.registry, "timeout": self.timeout, "agentPool": self.agent_pool}
