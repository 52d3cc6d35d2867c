"""The task model: the rendered YAML decoded as acr-builder's yaml.v2 would, validated, defaults stamped.

Decoding (yamlv2) is non-strict (unknown keys are ignored) but typed like yaml.v2: a quoted number for
an int field, a scalar for a list, a map for a string, an integer past int64 are errors that name the
line and column; floats are truncated into ints; any scalar fits a string field. Validation messages
are acr-builder's, word for word; after them come the checks of what ACR would refuse only when it
runs the step (Docker's syntax for ports, expose and networks: dockersyntax), so a file is not valid
here and invalid there.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

from .. import refs
from ..errors import TaskFileError
from . import buildspec, dockersyntax, yamlv2
from .load import VALID_VERSIONS, DEFAULT_VERSION, Source

DEFAULT_STEP_TIMEOUT = 600
DEFAULT_RETRY_DELAY = 5
DEFAULT_NETWORK = "acb_default_network"
WORKSPACE = "/workspace"
ROOT_ID = "acb_root"
IMMEDIATE = "-"

_VOLUME_NAME = re.compile(r"[a-zA-Z0-9-_]+")
_FILE_NAME = re.compile(r"[a-zA-Z0-9-_.]+")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# field -> kind (yamlv2.Decoder): str, int, bool, [kind], {str} (map of strings), or a schema below.
# yaml.v2 also fills exported Go fields that have no yaml tag from their lower-cased names: step `tags`
# (overrides the tags parsed from `build`), `buildargs` (typed, then overwritten by the parse), and
# the task's `registry`, `registryname`, `taskname` (overwritten by defaults) and `isbuildtask`.
STEP_SCHEMA = {
    "id": "str", "cmd": "str", "build": "str", "push": "[str]", "workingDirectory": "str", "entryPoint": "str",
    "user": "str", "network": "str", "isolation": "str", "cpus": "str", "cache": "str",
    "env": "[str]", "expose": "[str]", "ports": "[str]", "when": "[str]", "retryOnErrors": "[str]",
    "tags": "[str]", "buildargs": "[str]", "exitedWith": "[int]", "exitedWithout": "[int]",
    "timeout": "int", "startDelay": "int", "retryDelay": "int", "retries": "int", "repeat": "int",
    "keep": "bool", "detach": "bool", "privileged": "bool", "ignoreErrors": "bool", "pull": "bool",
    "disableWorkingDirectoryOverride": "bool", "volumeMounts": "[mount]",
}
SCHEMAS = {
    "task": {"version": "str", "stepTimeout": "int", "workingDirectory": "str", "env": "[str]",
             "secrets": "[secret]", "networks": "[network]", "volumes": "[volume]", "steps": "[step]",
             "isbuildtask": "bool", "registry": "str", "registryname": "str", "taskname": "str",
             "initbuildkitcontainer": "bool"},
    "step": STEP_SCHEMA,
    "secret": {"id": "str", "keyvault": "str", "clientID": "str", "aadresourceid": "str"},
    "network": {"name": "str", "driver": "str", "ipv6": "bool", "skipCreation": "bool", "isDefault": "bool"},
    "volume": {"name": "str", "secret": "{str}"},
    "mount": {"name": "str", "mountPath": "str"},
}
GO_NAMES = {"str": "string", "int": "int", "bool": "bool", "task": "graph.Task", "step": "graph.Step",
            "secret": "secretmgmt.Secret", "network": "graph.Network", "volume": "volume.Volume",
            "mount": "volume.Mount"}

def decode(rendered: str, src: Source) -> dict:
    """Rendered YAML -> the task as a dict (missing keys absent), its lines those of the user's file."""
    # rendering kept the line count: each line maps back through the stages before it
    line_of = src.original_line if rendered.count("\n") == src.text.count("\n") else None
    root = yamlv2.compose(rendered, src.file, "yaml_syntax_error", line_of=line_of)
    return yamlv2.typed(root, "task", SCHEMAS, GO_NAMES, src.file, "yaml_type_error", line_of=line_of) or {}


# -- the model -------------------------------------------------------------------------------------------

@dataclass
class Network:
    name: str
    driver: str = ""
    ipv6: bool = False
    skip_creation: bool = False
    is_default: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "driver": self.driver, "create": not self.skip_creation,
                "isDefault": self.is_default}


@dataclass
class Step:
    index: int
    raw: dict
    id: str = ""
    type: str = ""
    line: int | None = None
    when: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    timeout: int = DEFAULT_STEP_TIMEOUT
    retry_delay: int = DEFAULT_RETRY_DELAY
    network: str = ""
    working_directory: str = ""
    container_workdir: str | None = WORKSPACE
    push: list[str] = field(default_factory=list)
    build: str = ""
    cmd: str = ""
    tags: list[str] = field(default_factory=list)
    build_args: list[str] = field(default_factory=list)
    dockerfile: str = "Dockerfile"
    context: str = ""
    target: str | None = None
    user_build: str = ""  # `build` as the file gives it (`build` gains the cache flags with `cache: enabled`)
    cache_ref: str | None = None  # the registry cache of `cache: enabled` (buildx --cache-to/--cache-from)

    def get(self, key, default=None):
        value = self.raw.get(key)
        return default if value is None else value

    def at(self, key: str, index: int | None = None) -> tuple[int | None, int | None]:
        """(line, column) of a property's value (or of item `index` of a list), else the step's line."""
        return self.raw.get("_marks", {}).get(key if index is None else (key, index), (self.line, None))

    @property
    def uses_buildx(self) -> bool:
        """`cache: enabled` runs `buildx build` with a registry cache (on Linux)."""
        return self.cache_ref is not None

    def build_spec(self) -> buildspec.BuildSpec:
        """What a build step asks of `docker build`, read as the docker CLI reads it (see buildspec)."""
        return buildspec.parse(self.user_build, env=self.env, cache_ref=self.cache_ref)

    def to_dict(self) -> dict:
        d = {
            "id": self.id, "type": self.type, "cmd": self.cmd or None, "build": self.build or None,
            "push": self.push or None, "when": self.when, "timeout": self.timeout,
            "retries": self.get("retries", 0), "retryDelay": self.retry_delay, "retryOnErrors": self.get("retryOnErrors", []),
            "repeat": self.get("repeat", 0), "startDelay": self.get("startDelay", 0), "network": self.network,
            "workingDirectory": self.working_directory, "containerWorkdir": self.container_workdir,
            "disableWorkingDirectoryOverride": self.get("disableWorkingDirectoryOverride", False),
            "env": self.env, "entryPoint": self.get("entryPoint", ""), "user": self.get("user", ""),
            "privileged": self.get("privileged", False), "pull": self.get("pull", False),
            "keep": self.get("keep", False), "detach": self.get("detach", False),
            "ignoreErrors": self.get("ignoreErrors", False), "ports": self.get("ports", []),
            "expose": self.get("expose", []), "isolation": self.get("isolation", ""), "cpus": self.get("cpus", ""),
            "cache": self.get("cache", ""), "volumeMounts": [
                {"name": m.get("name") or "", "mountPath": m.get("mountPath") or ""} for m in self.get("volumeMounts", [])],
            "exitedWith": self.get("exitedWith", []), "exitedWithout": self.get("exitedWithout", []),
        }
        if self.type == "build":
            d.update(tags=self.tags, buildArgs=self.build_args, dockerfile=self.dockerfile, context=self.context,
                     target=self.target, buildx=self.uses_buildx, cacheRef=self.cache_ref)
        return d


@dataclass
class Task:
    version: str
    steps: list[Step]
    networks: list[Network]
    volumes: dict[str, dict[str, str]]
    secrets: list[dict]
    env: list[str]
    step_timeout: int
    working_directory: str


def task_file_error(message: str, kind: str, src: Source, line: int | None = None, column: int | None = None, *,
                    step: str | None = None) -> TaskFileError:
    """The error for a problem at a place in the user's task file (the model's and the graph's checks).
    Lines and columns are the user's file's already (decode maps them)."""
    return TaskFileError(message, kind=kind, file=src.file, line=line, column=column if line else None, step=step)


def _validate_secrets(secrets: list[dict], src: Source) -> None:
    seen = set()
    for s in secrets:
        sid, line = s.get("id") or "", s.get("_line")
        if not sid:
            raise task_file_error("secret is missing an ID as well as auto-generated ID", "secret_missing_id", src, line)
        prefix = f"failed to validate secret with ID: {sid}: "
        if re.search(r"\s", sid):
            raise task_file_error(prefix + "secret ID cannot contain spaces", "secret_id_contains_space", src, line)
        if not s.get("keyvault") and not s.get("aadresourceid") and not s.get("clientID"):
            raise task_file_error(prefix + "secret should contain either keyvault property for vault secret, or msi "
                       "clientID/aadResourceId for msi authentication", "secret_missing_source", src, line)
        if s.get("clientID") and not _GUID.fullmatch(s["clientID"]):
            raise task_file_error(prefix + "msi client ID is not a valid guid", "secret_bad_client_id", src, line)
        if sid in seen:
            raise task_file_error(f"duplicate secret found with ID: {sid}", "duplicate_secret_id", src, line)
        seen.add(sid)


def _validate_volumes(volumes: list[dict], src: Source) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for v in volumes:
        name, line = v.get("name") or "", v.get("_line")
        if not name:
            raise task_file_error("volume name is empty", "volume_name_empty", src, line)
        if not _VOLUME_NAME.fullmatch(name):
            raise task_file_error("volume name is not well formed. Only use alphanumeric and - _", "volume_name_invalid", src, line)
        if v.get("secret") is None:
            raise task_file_error("currently only support for source type secret", "volume_not_secret", src, line)
        if not v["secret"]:
            raise task_file_error("secret is empty", "volume_secret_empty", src, line)
        for fname in v["secret"]:
            if not _FILE_NAME.fullmatch(fname):
                raise task_file_error(f"file name, {fname}, is not well formed. Only use alphanumeric and - _ .",
                           "invalid_secret_file_name", src, line)
        if name in out:
            raise task_file_error("volume with duplicate name found", "duplicate_volume", src, line)
        out[name] = v["secret"]
    return out


def _split_env(entries: list[str]) -> list[str]:
    return [part for entry in entries for part in entry.split(",")]


def _merge_env(step_env: list[str], task_env: list[str], src: Source, step) -> list[str]:
    if not task_env:
        return list(step_env)
    keys = set()
    for entry in step_env:
        if "=" not in entry:
            raise task_file_error(f"failed to merge task and step environment variables: cannot parse step environment "
                       f"variable {entry} correctly", "env_parse_error", src, *step.at("env"), step=step.id)
        keys.add(entry.split("=", 1)[0])
    merged = list(step_env)
    for entry in task_env:
        if "=" not in entry:
            raise task_file_error(f"failed to merge task and step environment variables: cannot parse task environment "
                       f"variable {entry} correctly", "env_parse_error", src, step.line, step=step.id)
        if entry.split("=", 1)[0] not in keys:
            merged.append(entry)
    return merged


def container_workdir(wd: str, disabled: bool) -> str | None:
    if disabled:
        return None
    if not wd:
        return WORKSPACE
    return posixpath.normpath(wd if wd.startswith("/") else posixpath.join(WORKSPACE, wd))


def _split_args(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError:
        return text.split()


def parse_build(build: str) -> dict:
    """Tags (-t/--tag X), build args (--build-arg X), Dockerfile (-f/--file), target, and context: the last
    token that is neither a flag nor right after one (so `--pull https://x.git` hides the context, as in acb)."""
    tokens = _split_args(build)
    tags, args, dockerfile, target, context = [], [], "Dockerfile", None, ""
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        if prev in ("-t", "--tag"):
            tags.append(tok)
        elif prev == "--build-arg":
            args.append(tok)
        elif prev in ("-f", "--file"):
            dockerfile = tok
        elif prev == "--target":
            target = tok
        if not tok.startswith("-") and not prev.startswith("-"):
            context = tok
    return {"tags": tags, "buildArgs": args, "dockerfile": dockerfile, "target": target, "context": context}


def cache_ref(step: Step, task_name: str, registry: str) -> str:
    """The registry cache image of `cache: enabled` (graph/step.go GetCmdWithCacheFlags): in the repository
    of the first tag that names a registry, else the run registry plus the first tag's path."""
    tagged = next((t for t in step.tags if refs.has_registry(t)), None)
    if tagged:
        repo = tagged.split("@")[0]
    else:
        repo = f"{registry}/{step.tags[0].split('@')[0]}" if step.tags else f"{registry}/{step.id}"
    name, _, tag = repo.rpartition(":")
    if name and "/" not in tag:
        repo = name
    return f"{repo}:cache_{task_name or 'quickrun'}_{step.id}"


def cache_flags(ref: str) -> str:
    return f"--load --cache-to=type=registry,ref={ref},mode=max --cache-from=type=registry,ref={ref}"


def normalize_push(images: list[str]) -> list[str]:
    out = []
    for ref in images:
        if ":" not in ref and "@" not in ref:
            ref += ":latest"
        if ref not in out:
            out.append(ref)
    return out


def _validate_networks(declared: list[dict], src: Source) -> None:
    """What `docker network create` would refuse in ACR (locally networks are never created)."""
    created: set[str] = set()
    for n in declared:
        name, line, marks = n.get("name") or "", n.get("_line"), n.get("_marks", {})
        at = marks.get("name", (line, None))
        problem = dockersyntax.network_name_problem(name)
        if problem:
            raise task_file_error(f"network {name!r}: {problem}", "invalid_network_name", src, *at)
        if not n.get("skipCreation"):
            if name in dockersyntax.PREDEFINED_NETWORKS:
                raise task_file_error(f"network {name}: {name} is a pre-defined network and cannot be created; "
                           "add skipCreation: true to use it", "predefined_network", src, *at)
            if name in created:
                raise task_file_error(f"network {name} is declared twice: its second `docker network create` fails",
                           "duplicate_network", src, *at)
            created.add(name)
        problem = dockersyntax.driver_problem(n.get("driver") or "")
        if problem:
            raise task_file_error(f"network {name}: {problem}", "invalid_network_driver", src,
                       *marks.get("driver", (line, None)))


def build_task(doc: dict, src: Source, *, registry: str, task_name: str = "", cli_env: list[str] | None = None,
               os_name: str = "linux") -> Task:
    """Validate and stamp defaults in acr-builder's order (graph/task.go)."""
    secrets = doc.get("secrets") or []
    _validate_secrets(secrets, src)
    volumes = _validate_volumes(doc.get("volumes") or [], src)
    raw_steps = doc.get("steps") or []
    for s in raw_steps:
        for m in s.get("volumeMounts") or []:
            if m.get("name") and m["name"] not in volumes:
                raise task_file_error(f"mount name, {m['name']}, does not correspond to a volume", "mount_unknown_volume", src,
                           *m.get("_marks", {}).get("name", (m.get("_line"), None)), step=s.get("id"))
    task_env = _split_env(doc.get("env") or [])
    if cli_env:
        task_keys = {e.split("=", 1)[0] for e in task_env if "=" in e}
        for e in cli_env:
            if "=" not in e:
                raise task_file_error(f"cannot parse task environment variable {e} correctly", "env_parse_error", src)
        task_env = task_env + [e for e in cli_env if e.split("=", 1)[0] not in task_keys]
    version = doc.get("version") or DEFAULT_VERSION
    if version.lower() not in [v.lower() for v in VALID_VERSIONS]:
        raise task_file_error(f'invalid version specified: "{version}", the current version is "{DEFAULT_VERSION}"',
                   "invalid_version", src, *doc.get("_marks", {}).get("version", (doc.get("_line"), None)))
    declared = doc.get("networks") or []
    _validate_networks(declared, src)
    networks = [Network(n.get("name") or "", n.get("driver") or "", bool(n.get("ipv6")), bool(n.get("skipCreation")),
                        bool(n.get("isDefault"))) for n in declared]
    default_network = ""
    if not networks and not doc.get("isbuildtask"):
        networks = [Network(DEFAULT_NETWORK, "nat" if os_name == "windows" else "bridge", is_default=True)]
    for n in networks:
        if n.is_default:
            default_network = n.name
    step_timeout = doc.get("stepTimeout") or 0
    if step_timeout <= 0:
        step_timeout = DEFAULT_STEP_TIMEOUT
    task_wd = doc.get("workingDirectory") or ""
    steps = []
    for i, raw in enumerate(raw_steps):
        step = Step(index=i, raw=raw, line=raw.get("_line"))
        step.id = raw.get("id") or f"acb_step_{i}"  # an empty id is generated too, as acr-builder does
        step.cmd, step.build = raw.get("cmd") or "", raw.get("build") or ""
        step.user_build = step.build
        step.push = list(raw.get("push") or [])
        step.type = "cmd" if step.cmd else "build" if step.build else "push" if step.push else ""
        step.when = list(raw.get("when") or [])
        timeout = raw.get("timeout") or 0
        step.timeout = timeout if timeout > 0 else step_timeout  # <= 0 inherits, as in acr-builder
        delay = raw.get("retryDelay") or 0
        step.retry_delay = delay if delay > 0 else DEFAULT_RETRY_DELAY
        step.env = _merge_env(list(raw.get("env") or []), task_env, src, step)
        step.network = raw.get("network") or default_network
        step.working_directory = raw.get("workingDirectory") or task_wd
        step.container_workdir = container_workdir(step.working_directory,
                                                   bool(raw.get("disableWorkingDirectoryOverride")))
        if step.type == "build":
            parsed = parse_build(step.build)
            step.tags = list(raw.get("tags") or parsed["tags"])  # a step-level `tags` key overrides (yaml.v2 quirk)
            step.build_args = parsed["buildArgs"]  # always the parse: acr-builder overwrites a `buildargs` key
            step.dockerfile, step.context, step.target = parsed["dockerfile"], parsed["context"], parsed["target"]
        if step.type == "push":
            step.push = normalize_push(step.push)
        steps.append(step)
    # cache flags need the step id, so they come after ids are stamped (AddTaskDefaults)
    for step in steps:
        cache = str(step.raw.get("cache") or "")
        if step.type == "build" and cache.lower() == "enabled" and os_name != "windows":
            step.cache_ref = cache_ref(step, task_name, registry)
            step.build = f"{cache_flags(step.cache_ref)} {step.build}"
    return Task(version=version, steps=steps, networks=networks, volumes=volumes, secrets=secrets, env=task_env,
                step_timeout=step_timeout, working_directory=task_wd)


def validate_step(step: Step, src: Source) -> None:
    """Step.Validate, in acr-builder's order, then what `docker run` would refuse in ACR."""
    raw = step.raw

    def fail(message, kind, at: tuple[int | None, int | None] | None = None):
        raise task_file_error(message, kind, src, *(at or (step.line, None)), step=step.id)

    if (raw.get("retries") or 0) < 0:
        fail("step must specify retries >= 0", "negative_retries", step.at("retries"))
    if (raw.get("repeat") or 0) < 0:
        fail("step must specify repeat >= 0", "negative_repeat", step.at("repeat"))
    if sum(bool(x) for x in (step.cmd, step.build, step.push)) > 1:
        fail("step must only contain a single build, cmd, or push property", "multiple_step_types")
    if re.search(r"\s", step.id):
        fail("step ID cannot contain spaces", "id_contains_space", step.at("id"))
    if not step.type:
        fail("step is missing a cmd, build, or push property", "missing_step_type")
    mounts = raw.get("volumeMounts") or []
    if mounts and step.type == "push":
        fail("invalid use of Mounts. Mounts must have unique container paths and only used for cmd or build steps",
             "mounts_on_push", step.at("volumeMounts"))
    paths = set()
    for i, m in enumerate(mounts):
        if not m.get("name") or not m.get("mountPath"):
            fail("mount name or mount path is empty", "mount_empty", step.at("volumeMounts", i))
        if m["mountPath"] in paths:
            fail("mount with duplicate container file path found", "duplicate_mount_path", step.at("volumeMounts", i))
        paths.add(m["mountPath"])
    if IMMEDIATE in step.when and len(step.when) > 1:
        fail("step cannot contain other IDs in when if the immediate execution token is specified",
             "immediate_token_with_ids", step.at("when"))
    if step.id in step.when:
        fail(f"Step ID: {step.id} is self-referenced", "self_reference", step.at("when"))
    cache = raw.get("cache")
    if cache and str(cache).lower() not in ("enabled", "disabled"):
        fail("invalid value for cache property. Valid values are 'enabled', 'disabled'", "invalid_cache_value",
             step.at("cache"))
    if step.type == "push":
        return  # acr-builder pushes with none of the container options
    for key, check, flag in (("ports", dockersyntax.port_problem, "-p"), ("expose", dockersyntax.expose_problem,
                                                                        "--expose")):
        for i, value in enumerate(raw.get(key) or []):
            problem = check(value)
            if problem:
                fail(f"{key}: {value!r} is not a `docker run {flag}` value: {problem}", f"invalid_{key}",
                     step.at(key, i))
    if raw.get("network"):
        problem = dockersyntax.step_network_problem(raw["network"])
        if problem:
            fail(f"network: {raw['network']!r} is not a `docker run --network` value: {problem}", "invalid_network",
                 step.at("network"))
