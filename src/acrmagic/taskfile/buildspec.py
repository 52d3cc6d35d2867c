"""What a build step asks of `docker build`, read the way the docker CLI reads the step's `build` string.

acr-builder runs `docker build <build>` through `/bin/sh -c` in a docker CLI container, so the string
is split like a shell splits it and its flags are parsed by the CLI (pflag): `--tag x`, `--tag=x`,
`-t x`, `-tx` and `-t=x` are all the same tag, a boolean takes `--no-cache` or `--no-cache=false`, and
exactly one positional argument is the context. (acr-builder's own reading of the string, kept in
the plan as `tags`/`buildArgs`/`context`, sees only the space-separated `-t x` forms: model.parse_build.)

A bare `--build-arg NAME` takes NAME's value from the docker CLI's environment, which in ACR is the
step's `env`; it is left out when the step does not set it, as docker leaves out an unset variable.
Flags the local target cannot honour are listed in `unknown_flags`, so the executor can refuse the
step with one line (`refusal()`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

#: docker build (20.10) flags that take a value, by every name they go by
_VALUE_FLAGS = {
    "-t": "tag", "--tag": "tag", "--build-arg": "build-arg", "-f": "file", "--file": "file", "--target": "target",
    "--platform": "platform", "--label": "label", "--network": "network", "--progress": "progress",
    # known to docker, not honoured locally: listed in unknown_flags
    "--add-host": None, "--cache-from": None, "--cgroup-parent": None, "--cpu-period": None, "--cpu-quota": None,
    "-c": None, "--cpu-shares": None, "--cpuset-cpus": None, "--cpuset-mems": None, "--iidfile": None,
    "--isolation": None, "-m": None, "--memory": None, "--memory-swap": None, "-o": None, "--output": None,
    "--secret": None, "--security-opt": None, "--shm-size": None, "--ssh": None, "--ulimit": None,
}
#: boolean docker build flags
_BOOL_FLAGS = {
    "--no-cache": "no-cache", "--pull": "pull", "-q": "quiet", "--quiet": "quiet", "--rm": "rm",
    "--force-rm": "force-rm", "--compress": "compress", "--disable-content-trust": "disable-content-trust",
    "--squash": None, "--stream": None,
}
_GO_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
             "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}


@dataclass
class BuildSpec:
    """A build step as the executor needs it; nothing here needs `build` parsed again."""

    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    dockerfile: str | None = None  # as given by -f (relative to the working directory, as docker reads it)
    target: str | None = None
    context: str = ""  # the one positional argument ("" when there is none)
    platform: str | None = None
    no_cache: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    pull: bool = False
    cache_ref: str | None = None  # `cache: enabled`: the registry cache to read and write
    network: str | None = None  # the network of the build's RUN instructions (--network)
    unknown_flags: list[str] = field(default_factory=list)  # flags the local target does not honour, as written
    problems: list[str] = field(default_factory=list)  # what docker itself would refuse in this string

    def refusal(self) -> str | None:
        """One line saying why the local target cannot run this build, or None."""
        if self.unknown_flags:  # first: whether an unknown flag takes a value is unknown, so may the count be
            return ("build flags not supported by the local runner: " + ", ".join(self.unknown_flags)
                    + " (supported: -t, -f, --build-arg, --target, --platform, --label, --network, --no-cache, --pull)")
        if self.problems:
            return f"docker build would refuse this step: {self.problems[0]}"
        return None


def _env_value(env: list[str], name: str) -> str | None:
    value = None
    for entry in env:  # the last one wins, as with repeated `docker run --env`
        key, sep, rest = entry.partition("=")
        if sep and key == name:
            value = rest
    return value


def parse(build: str, env: list[str] | None = None, cache_ref: str | None = None) -> BuildSpec:
    spec = BuildSpec(cache_ref=cache_ref)
    try:
        tokens = shlex.split(build)
    except ValueError as e:  # the agent's shell would fail on it
        spec.problems.append(f"cannot split the build arguments like a shell: {e}")
        return spec
    positional: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok == "--":
            positional.extend(tokens[i:])
            break
        if not tok.startswith("-") or tok == "-":
            positional.append(tok)
            continue
        name, value = _flag(tok)
        if name in _BOOL_FLAGS:
            flag = _BOOL_FLAGS[name]
            setting = True if value is None else _GO_BOOLS.get(value)
            if setting is None:
                spec.problems.append(f"invalid boolean {value!r} for {name}")
            elif flag is None:
                spec.unknown_flags.append(name)
            elif flag == "no-cache":
                spec.no_cache = setting
            elif flag == "pull":
                spec.pull = setting
            continue
        if name not in _VALUE_FLAGS:
            spec.unknown_flags.append(name)
            continue
        if value is None:
            if i == len(tokens):
                spec.problems.append(f"flag needs an argument: {name}")
                break
            value, i = tokens[i], i + 1
        _apply(spec, name, _VALUE_FLAGS[name], value, env or [])
    if len(positional) != 1:
        spec.problems.append(f"\"docker build\" requires exactly 1 argument (the context), got {len(positional)}"
                             + (f": {' '.join(positional)}" if positional else ""))
    spec.context = positional[0] if positional else ""
    if spec.context == "-":
        spec.unknown_flags.append("- (a context read from stdin)")
    return spec


def _flag(tok: str) -> tuple[str, str | None]:
    """(flag name, attached value or None): `--tag=x`, `-t=x` and `-tx` carry their value."""
    if tok.startswith("--"):
        name, sep, value = tok.partition("=")
        return name, value if sep else None
    name, rest = tok[:2], tok[2:]
    if not rest:
        return name, None
    if name in _BOOL_FLAGS:
        return (name, rest[1:]) if rest.startswith("=") else (tok, None)  # `-qt x` clusters: not supported
    return name, rest[1:] if rest.startswith("=") else rest


def _apply(spec: BuildSpec, name: str, flag: str | None, value: str, env: list[str]) -> None:
    if flag is None:
        spec.unknown_flags.append(name)
    elif flag == "tag":
        spec.tags.append(value)
    elif flag == "build-arg":
        key, sep, given = value.partition("=")
        if sep:
            spec.build_args[key] = given
        elif _env_value(env, key) is not None:
            spec.build_args[key] = _env_value(env, key)
    elif flag == "label":
        key, _, given = value.partition("=")
        spec.labels[key] = given
    elif flag == "file":
        spec.dockerfile = value
    elif flag == "target":
        spec.target = value
    elif flag == "platform":
        spec.platform = value
    elif flag == "network":
        spec.network = value
    # --progress changes only how the CLI prints: nothing to do
