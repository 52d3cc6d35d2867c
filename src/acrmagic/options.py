"""The flags of each verb, in one place: the magics and the command line parse with the same parsers,
so `%%acrbuild -t x` and `acrmagic build -t x` mean the same (and follow `az acr build`'s names)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

from .errors import UsageError

DEFAULT_TIMEOUT = 3600  # az acr build's default, seconds


class Parser(argparse.ArgumentParser):
    """argparse that raises a one-line UsageError naming the command instead of exiting."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status=0, message=None):  # -h prints help, then stop without killing the kernel
        if message:
            raise UsageError(message.strip())
        raise HelpShown()


class HelpShown(Exception):
    pass


def key_value(flag: str):
    def parse(text: str) -> tuple[str, str]:
        key, eq, value = text.partition("=")
        if not key or not eq:
            raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
        return key, value
    parse.__name__ = flag
    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _context(ns: argparse.Namespace, prog: str) -> str:
    """--context or the positional SOURCE_LOCATION (as az takes it), default the current folder."""
    if ns.context_flag and ns.source and ns.context_flag != ns.source:
        raise UsageError(f"{prog}: give the context once, either --context or SOURCE_LOCATION")
    return ns.context_flag or ns.source or "."


def build_parser(prog: str = "acrbuild") -> Parser:
    p = Parser(prog=prog, add_help=False, description=(
        "Build an image from a Dockerfile (the cell body, or -f FILE) and a context, on the local engine "
        "with BuildKit, and push it when a tag is given (like `az acr build`)."))
    p.add_argument("-t", "--image", action="append", default=[], metavar="NAME:TAG",
                   help="image name and tag; repeatable. A name without a registry gets the run's registry. "
                        "{{.Run.ID}}, {{.Run.Registry}}, $ID and $Registry are replaced.")
    p.add_argument("-r", "--registry", help="registry to push to (default: ACRMAGIC_REGISTRY or localhost:5000)")
    p.add_argument("--context", dest="context_flag", metavar="PATH_OR_URL",
                   help="build context: a folder (default: the current folder) or a git URL repo.git#ref:subdir")
    p.add_argument("source", nargs="?", metavar="SOURCE_LOCATION", help="the build context, as a positional")
    p.add_argument("-f", "--file", help="Dockerfile path relative to the context (instead of the cell body)")
    p.add_argument("--build-arg", action="append", default=[], type=key_value("--build-arg"), metavar="KEY=VALUE")
    p.add_argument("--secret-build-arg", action="append", default=[], type=key_value("--secret-build-arg"),
                   metavar="KEY=VALUE", help="a build argument whose value never appears in logs or records")
    p.add_argument("--target", help="the build stage to build")
    p.add_argument("--platform", help="platform of the image, e.g. linux/amd64")
    p.add_argument("--no-push", action="store_true", help="build only; do not push")
    p.add_argument("--no-cache", action="store_true", help="do not use the build cache")
    p.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT, help="seconds (default 3600)")
    p.add_argument("--no-logs", action="store_true", help="do not show the log while it runs (it is still kept)")
    p.add_argument("-h", "--help", action="help", help="show this help")
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
    platform: str | None = None
    push: bool = True
    no_cache: bool = False
    timeout: int = DEFAULT_TIMEOUT
    logs: bool = True

    @classmethod
    def from_argv(cls, argv: list[str], dockerfile_text: str | None = None, prog: str = "acrbuild") -> "BuildOptions":
        ns = build_parser(prog).parse_args(argv)
        return cls(images=ns.image, registry=ns.registry, context=_context(ns, prog),
                   file=ns.file, dockerfile_text=dockerfile_text, build_args=dict(ns.build_arg),
                   secret_build_args=dict(ns.secret_build_arg), target=ns.target, platform=ns.platform,
                   push=not ns.no_push, no_cache=ns.no_cache, timeout=ns.timeout, logs=not ns.no_logs)

    def recorded(self) -> dict:
        """The request as the run store keeps it: secret build-arg values left out."""
        return {"images": self.images, "registry": self.registry, "context": self.context, "file": self.file,
                "buildArgs": self.build_args, "secretBuildArgs": sorted(self.secret_build_args),
                "target": self.target, "platform": self.platform, "push": self.push, "noCache": self.no_cache,
                "timeout": self.timeout}


def task_parser(prog: str = "acrtask") -> Parser:
    p = Parser(prog=prog, add_help=False, description=(
        "Run a multi-step task (ACR task YAML, the cell body or -f FILE) on the local engine, like `az acr run`."))
    p.add_argument("-f", "--file", help="task file (instead of the cell body); relative to the current folder")
    p.add_argument("--context", dest="context_flag", metavar="PATH_OR_URL",
                   help="source context, mounted at /workspace (default: the current folder)")
    p.add_argument("source", nargs="?", metavar="SOURCE_LOCATION", help="the source context, as a positional")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a value for {{.Values.KEY}}")
    p.add_argument("--set-secret", action="append", default=[], metavar="KEY=VALUE",
                   help="a secret value for {{.Values.KEY}}: never shown in logs, records or outputs")
    p.add_argument("--values", metavar="FILE", help="YAML values file, relative to the context")
    p.add_argument("-r", "--registry", help="the run registry ($Registry; default localhost:5000)")
    p.add_argument("--timeout", type=positive_int, default=DEFAULT_TIMEOUT, help="seconds for the whole run (default 3600)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved plan and run nothing")
    p.add_argument("--no-logs", action="store_true", help="do not show the log while it runs (it is still kept)")
    p.add_argument("-h", "--help", action="help", help="show this help")
    return p


@dataclass
class TaskOptions:
    task_text: str | None = None
    file: str | None = None
    context: str = "."
    set_values: list[str] = field(default_factory=list)
    set_secrets: list[str] = field(default_factory=list)
    values_file: str | None = None
    registry: str | None = None
    timeout: int = DEFAULT_TIMEOUT
    dry_run: bool = False
    logs: bool = True

    @classmethod
    def from_argv(cls, argv: list[str], task_text: str | None = None, prog: str = "acrtask") -> "TaskOptions":
        ns = task_parser(prog).parse_args(argv)
        return cls(task_text=task_text, file=ns.file, context=_context(ns, prog),
                   set_values=ns.set, set_secrets=ns.set_secret, values_file=ns.values, registry=ns.registry,
                   timeout=ns.timeout, dry_run=ns.dry_run, logs=not ns.no_logs)

    def recorded(self) -> dict:
        return {"file": self.file, "context": self.context, "set": self.set_values,
                "setSecret": sorted(s.split("=", 1)[0] for s in self.set_secrets), "values": self.values_file,
                "registry": self.registry, "timeout": self.timeout}
