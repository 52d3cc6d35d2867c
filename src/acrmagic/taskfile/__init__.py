"""ACR multi-step task files (`acr-task.yaml`, version v1.1.0), loaded as acr-builder loads them:
comment lines out -> version -> aliases -> Go template -> YAML -> defaults -> graph -> cmd aliases.

`load()` gives a `Plan` (the task, its graph and levels); `plan_dict()` the same as plain data.
Nothing here runs anything: execution is `acrmagic.taskfile.execute`.

  load        the text stages (comment lines, version, alias block and substitution), line origins
  template/   the Go-template subset with Sprig, safe and bounded (lexer, parser, executor, functions)
  values      .Values (values file, --set) and .Run (RunInfo, with the environ `env` sees)
  yamlv2      YAML typed as acr-builder's yaml.v2 types it
  model       the task and its steps: decoding, defaults, validation (dockersyntax: Docker's rules)
  buildspec   a build step as the docker CLI reads it (Step.build_spec())
  graph       edges and levels
  execute     the scheduler; steplog: acr-builder's step lines, written and parsed
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .. import keyvalues, textfiles
from ..errors import TaskFileError
from . import graph, load as loading, model
from .values import RunInfo, merge_values, parse_values_file, template_data

__all__ = ["Plan", "load", "plan_dict", "RunInfo"]


@dataclass
class Plan:
    task: model.Task
    parents: dict[str, list[str]]
    levels: list[list[str]]
    version: str
    aliases_enabled: bool
    values: dict

    def step(self, step_id: str) -> model.Step:
        return next(s for s in self.task.steps if s.id == step_id)

    def __repr__(self) -> str:
        """The plan as `--dry-run` prints it: levels, then each step with what it will do."""
        lines = [f"Plan: version {self.version}, aliases {'on' if self.aliases_enabled else 'off'}, "
                 f"{len(self.task.steps)} steps in {len(self.levels)} levels"]
        for n, level in enumerate(self.levels, 1):
            lines.append(f"level {n}: {', '.join(level)}")
        for step in self.task.steps:
            what = {"cmd": step.cmd, "build": f"docker build {step.build}",
                    "push": "push " + " ".join(step.push)}.get(step.type, "?")
            after = ", ".join(self.parents[step.id]) or "start"
            flags = [f for f in ("detach", "keep", "ignoreErrors", "privileged") if step.get(f)]
            extra = "".join(f" {k}={step.get(k)}" for k in ("retries", "repeat", "startDelay") if step.get(k))
            lines.append(f"  {step.id} [{step.type}] after {after}: {what} (timeout {step.timeout}s{extra}"
                         f"{' ' + ' '.join(flags) if flags else ''})")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "ok": True, "version": self.version, "aliases": self.aliases_enabled,
            "steps": [s.to_dict() for s in self.task.steps], "parents": self.parents, "levels": self.levels,
            "networks": [n.to_dict() for n in self.task.networks],
            "volumes": [{"name": name, "files": sorted(files)} for name, files in self.task.volumes.items()],
        }


def _alias_src_reader(base: Path | None):
    def read(location: str) -> str:
        if location.startswith(("http://", "https://")):
            raise TaskFileError(f"alias src {location}: fetching alias files over the network is not supported "
                                "locally; give a file path", kind="alias_src_error")
        path = Path(location) if base is None or Path(location).is_absolute() else base / location
        try:
            data = path.read_bytes()
        except (OSError, ValueError) as e:  # ValueError: a NUL in the path
            raise TaskFileError(f"alias src {location}: {getattr(e, 'strerror', None) or e}",
                                kind="alias_src_error") from None
        found = textfiles.problem(data)
        if found:
            line, column, what = found
            raise TaskFileError(what, kind="alias_src_error", file=location, line=line, column=column)
        return textfiles.decode(data, location)
    return read


_MESSAGE_LIMIT = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def _one_line(text: str | None, limit: int) -> str | None:
    """User text inside a message, escaped to one line and cut to `limit` characters."""
    if text is None:
        return None
    text = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _tidy(e: TaskFileError) -> TaskFileError:
    """Every message leaving `load` is one line of reasonable length, whatever user text it quotes."""
    parts = (_one_line(e.reason, _MESSAGE_LIMIT), _one_line(e.file, 120), _one_line(e.step, 80))
    if parts == (e.reason, e.file, e.step):
        return e
    reason, file, step = parts
    return TaskFileError(reason, kind=e.kind, file=file, line=e.line, column=e.column, step=step)


def load(text: str, run: RunInfo, *, values: dict | None = None, values_file: str | None = None,
         set_values: dict[str, str] | None = None, secret_values: dict[str, str] | None = None,
         file: str = "<task>", base_dir: Path | None = None, cli_env: list[str] | None = None) -> Plan:
    """Load and validate a task file. Raises TaskFileError (with file, line, column and step id), its
    message one line. `text` and `values_file` are text: read files with acrmagic.textfiles.

    `.Values` is the values file, then `values`, then `--set` (`set_values`), then `--set-secret`
    (`secret_values`), each over the one before: mappings, parsed at the edge (`acrmagic.keyvalues`)."""
    try:
        return _load(text, run, (values, set_values, secret_values), values_file, file, base_dir, cli_env)
    except TaskFileError as e:
        raise _tidy(e) from None


def _load(text, run, given, values_file, file, base_dir, cli_env) -> Plan:
    merged = merge_values(parse_values_file(values_file), *given)
    data = template_data(run, merged)
    src = loading.strip_comment_lines(text, file)
    raw_version = loading.find_version(src.text)
    aliases_on = raw_version >= loading.ALIAS_MIN_VERSION  # byte-wise, as acb: "V1.1.0" leaves aliases off
    aliases = None
    if aliases_on:
        block, src = loading.cut_alias_block(src)
        aliases = loading.load_aliases(block, data, _alias_src_reader(base_dir), run.environ)
        src = loading.Source(loading.substitute_aliases(src.text, aliases), src.origin, src.file)
    rendered = loading.render(src.text, data, src, environ=run.environ)
    if src.text.strip() and not rendered.strip():
        raise TaskFileError("unable to render task: rendered template was empty", kind="template_empty", file=file)
    doc = model.decode(rendered, src)
    task = model.build_task(doc, src, registry=run.registry, task_name=run.task_name, cli_env=cli_env, os_name=run.os)
    parents = graph.build_graph(task.steps, src)
    if aliases:
        for step in task.steps:
            if step.type == "cmd":
                parts = step.cmd.strip().split(" ")
                if parts[0] in aliases.values:
                    parts[0] = aliases.values[parts[0]]
                    step.cmd = " ".join(parts)
    return Plan(task=task, parents=parents, levels=graph.levels(parents), version=doc.get("version") or model.DEFAULT_VERSION,
                aliases_enabled=aliases_on, values=merged)


def _set_values(set_raw: list[str] | None) -> dict[str, str]:
    """`--set` texts as acb's command line gives them (the reference cases' setRaw), read by the one
    parser and refused in acb's words."""
    out = {}
    for text in set_raw or []:
        try:
            key, value = keyvalues.split(text)
        except ValueError:
            why = "invalid format, no = assignment found" if "=" not in text else "expected a key=val format"
            raise TaskFileError(f"failed to parse --set data; {why}", kind="set_parse_error", file="--set") from None
        out[key] = value
    return out


def plan_dict(yaml_text: str, run: dict, values: dict | None = None, values_file: str | None = None,
              set_raw: list[str] | None = None) -> dict:
    """The resolved plan as plain data, or {"ok": False, "error": {"kind", "message", "line", "column"}}.

    `run` has the keys of the reference cases' run objects: id, registry, date, os, architecture, commit,
    branch, sharedVolume, taskName (and may carry values, valuesFile, setRaw)."""
    values = values if values is not None else run.get("values")
    values_file = values_file if values_file is not None else run.get("valuesFile")
    set_raw = set_raw if set_raw is not None else run.get("setRaw")
    try:
        return load(yaml_text, RunInfo.from_dict(run), values=values, values_file=values_file,
                    set_values=_set_values(set_raw)).to_dict()
    except TaskFileError as e:
        return {"ok": False, "error": {"kind": e.kind, "message": e.reason, "line": e.line, "column": e.column,
                                       "step": e.step}}
