"""A task definition, as ACR's Task resource (`az acr task create` flags -> Task JSON, and back).

The Task JSON is the one form a task has: the store keeps it, the scheduler and `task run` read it,
`task show -o json` prints it, and the ACR target can hand it to the SDK's Task model as it is.
acrmagic's own needs (the run registry, a Dockerfile given as a cell body, where secrets are read
from) sit in one extra top-level key, `acrmagic`, which `public()` drops with the secrets.

Secrets are never in it: a secret `--set-secret` value is kept as `{"name", "isSecret": true}`, the
git access token only as a reference (see `secrets.py`).

`update` reads the flags back from the JSON (`flags_of`), lays the changed ones over them, and builds
the task again, keeping what ACR keeps (creation date, identity ids, secrets not given again): one
path from flags to JSON, so created and updated tasks cannot disagree.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import uuid
from pathlib import Path

import yaml

from ..context import INLINE_DOCKERFILE, is_git_url
from .. import acrspec, keyvalues, refs
from ..platforms import Platform
from ..errors import TaskFileError, UsageError, quoted
from ..runrequest import render_image
from . import secrets, timer
from ..gitsource import check_branch, check_url, provider, split_context

# -- ACR's names and defaults -------------------------------------------------------------------------------
RESOURCE_TYPE = "Microsoft.ContainerRegistry/registries/tasks"
SUBSCRIPTION, RESOURCE_GROUP, REGISTRY_NAME, LOCATION = "00000000-0000-0000-0000-000000000000", "local", "local", "local"
TENANT = "00000000-0000-0000-0000-000000000000"
SOURCE_TRIGGER_NAME, BASE_IMAGE_TRIGGER_NAME = "defaultSourceTriggerName", "defaultBaseimageTriggerName"
DOCKER, FILE_TASK, ENCODED_TASK = acrspec.DOCKER_STEP, acrspec.FILE_TASK_STEP, acrspec.ENCODED_TASK_STEP
RUNTIME, ALL = acrspec.BASE_IMAGE_RUNTIME, acrspec.BASE_IMAGE_ALL
ENABLED, DISABLED = acrspec.ENABLED, acrspec.DISABLED
MIN_TIMEOUT, MAX_TIMEOUT = acrspec.MIN_TIMEOUT, acrspec.MAX_TIMEOUT
EXTENSION = "acrmagic"
# az's task-file extensions: `-f` with one of these is a file task, anything else a Dockerfile
TASK_FILE_EXTENSIONS = (".yaml", ".yml", ".toml", ".json", ".sh", ".bash", ".zsh", ".ps1", ".ps", ".cmd", ".bat",
                        ".ts", ".js", ".php", ".py", ".rb", ".lua")
# what az synthesises for `--cmd` (the command travels as a value, so YAML never sees it raw)
CMD_TEMPLATE = ("version: v1.1.0\nsteps:\n  - cmd: {{{{ .Values.command }}}}\n    disableWorkingDirectoryOverride: true\n"
                "    timeout: {timeout}\n")
CMD_VALUE = "command"

_IDENTITY_ID = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.managedidentity/"
                          r"userassignedidentities/[^/]+$", re.IGNORECASE)

#: the flags of create/update (names as the Python API takes them) and their defaults at create
FLAGS: dict[str, object] = {
    "image": [], "context": None, "file": None, "cmd": None, "body": None, "set": [], "set_secret": [],
    "values": None, "arg": [], "commit_trigger_enabled": None, "base_image_trigger_enabled": True,
    "base_image_trigger_type": RUNTIME, "schedule": [], "timeout": acrspec.DEFAULT_TIMEOUT, "platform": "linux",
    "git_access_token": None, "assign_identity": None, "registry": None, "no_push": False, "no_cache": False,
    "target": None, "status": ENABLED,
}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not acrspec.TASK_NAME.fullmatch(name):
        raise UsageError(f"-n/--name: {quoted(name)} is not a valid task name: use 5-50 letters, digits, '-' or '_'")
    return name


def check_flags(flags: dict) -> None:
    unknown = sorted(set(flags) - set(FLAGS))
    if unknown:
        raise UsageError(f"unknown field {unknown[0]!r} (known: {', '.join(FLAGS)})")
    token = flags.get("git_access_token")
    if token is not None and not (isinstance(token, str) and token.startswith("@")):
        secrets.check_token(token, "--git-access-token")
    if flags.get("registry") is not None:
        refs.check_registry(flags["registry"], "-r/--registry")


def task_id(name: str) -> str:
    return (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.ContainerRegistry/"
            f"registries/{REGISTRY_NAME}/tasks/{name}")


# -- flags -> Task JSON ---------------------------------------------------------------------------------------
def build(name: str, flags: dict, *, now: str, previous: dict | None = None) -> tuple[dict, dict[str, str]]:
    """The Task resource for `flags` (defaults filled in) and the secrets given with them
    ({key: value as given}); UsageError, with one clear line, for anything ACR or az would refuse."""
    check_name(name)
    check_flags(flags)
    f = {**FLAGS, **{k: v for k, v in flags.items() if v is not None}}
    # KEY=VALUE flags parsed once, here at the edge: a mapping from here on (and from flags_of)
    f.update(set=keyvalues.parse(f["set"], "--set"), arg=keyvalues.parse(f["arg"], "--arg"),
             set_secret=keyvalues.parse(f["set_secret"], "--set-secret", secret=True))
    given: dict[str, str] = {}
    context = _context(f["context"])
    step = _step(f, context, given)
    trigger = _trigger(f, context, given)
    resource = {
        "id": task_id(name), "name": name, "type": RESOURCE_TYPE, "location": LOCATION, "tags": {},
        "identity": _identity(f["assign_identity"], (previous or {}).get("identity")),
        "properties": {
            "provisioningState": acrspec.SUCCEEDED,
            "creationDate": (previous or {}).get("properties", {}).get("creationDate", now),
            "status": _choice(f["status"], (ENABLED, DISABLED), "--status"),
            "platform": _platform(f["platform"]), "agentConfiguration": {"cpu": 2},
            "timeout": _timeout(f["timeout"]), "step": step, "trigger": trigger, "credentials": {},
            "isSystemTask": False,
        },
        EXTENSION: {"registry": f["registry"], "dockerfile": f["body"] if step["type"] == DOCKER else None,
                    "secretRefs": {key: secrets.reference(value, _WHAT.get(key, f"--set-secret {key}"))
                                   for key, value in given.items()}},
    }
    return resource, given


_WHAT = {secrets.GIT_TOKEN: "--git-access-token"}


def _context(context: str | None) -> str | None:
    if not context or context == "/dev/null":  # az: /dev/null means a task without source
        return None
    if is_git_url(context):
        repo, branch, _ = split_context(context)
        check_url(repo)
        if branch is not None:
            check_branch(branch, "--context: the branch")
        return context
    folder = Path(context).expanduser()
    if not folder.is_dir():
        raise UsageError(f"-c/--context: no such folder: {context}")
    return str(folder.resolve())  # the scheduler may run from another folder


def _values(f: dict, given: dict) -> list[dict]:
    values = [{"name": k, "value": v, "isSecret": False} for k, v in f["set"].items()]
    for key, value in f["set_secret"].items():
        given[key] = value
        values.append({"name": key, "isSecret": True})  # the value lives elsewhere (secrets.py)
    return values


#: a cell whose first line starts with one of these is a task file, never a Dockerfile
_TASK_KEY = re.compile(r"(version|steps|alias|secrets|volumes|stepTimeout|totalTimeout|workingDirectory|env|"
                       r"networks|id)\s*:", re.IGNORECASE)
_DOCKERFILE_START = re.compile(r"(FROM|ARG)\s", re.IGNORECASE)


def is_task_yaml(text: str) -> bool:
    """A cell body is a task when it reads as a YAML mapping with steps, or begins as one (then a YAML
    error is the task's, with its line and column); a Dockerfile begins with FROM or ARG. A body that is
    neither is one line saying both."""
    first = next((line.strip() for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith("#")), "")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        if _TASK_KEY.match(first):
            mark = getattr(e, "problem_mark", None)
            raise TaskFileError(f"not valid YAML: {getattr(e, 'problem', None) or e}", kind="load", file="<cell>",
                                line=mark.line + 1 if mark else None,
                                column=mark.column + 1 if mark else None) from None
        data = None
    if isinstance(data, dict) and "steps" in data:
        return True
    if _TASK_KEY.match(first):
        raise TaskFileError("a task needs `steps:` (version: v1.1.0, steps: [...])", kind="load", file="<cell>")
    if not _DOCKERFILE_START.match(first):
        raise UsageError(f"the cell is neither a Dockerfile (its first instruction, {quoted(first[:40])}, is not FROM "
                         "or ARG) nor a task (version: v1.1.0, steps: ...)")
    return False


def _step(f: dict, context: str | None, given: dict) -> dict:
    chosen = [flag for flag in ("file", "cmd", "body") if f[flag]]
    if len(chosen) > 1:
        raise UsageError(f"give one of -f/--file, --cmd and a cell body, not {' and '.join(chosen)}")
    common = {"contextPath": context or "/dev/null"}
    for image in f["image"]:
        render_image(image, "aa1", "localhost:5000")  # the grammar, with stand-in values
    if f["cmd"]:
        values = [{"name": CMD_VALUE, "value": f["cmd"], "isSecret": False}, *_values(f, given)]
        return {"type": ENCODED_TASK, **common, "encodedTaskContent": _b64(CMD_TEMPLATE.format(timeout=f["timeout"])),
                "values": values}
    body, file = f["body"], f["file"]
    if body is not None and not body.strip():
        raise UsageError("the cell is empty: write a Dockerfile or a task (version: v1.1.0, steps: ...)")
    if body is not None and is_task_yaml(body):
        return {"type": ENCODED_TASK, **common, "encodedTaskContent": _b64(body), "values": _values(f, given)}
    if file and file.lower().endswith(TASK_FILE_EXTENSIONS):
        if context is None:  # az: a local task file is sent encoded when there is no context
            path = Path(file).expanduser()
            if not path.is_file():
                raise UsageError(f"-f/--file: no task file at {file}")
            from ..textfiles import read_text

            return {"type": ENCODED_TASK, **common, "encodedTaskContent": _b64(read_text(path, file)),
                    "values": _values(f, given)}
        return {"type": FILE_TASK, **common, "taskFilePath": file, "valuesFilePath": f["values"],
                "values": _values(f, given)}
    if body is None and not file:
        raise UsageError("-f/--file: give the Dockerfile or task file (relative to the context), a --cmd, "
                         "or a cell body")
    if context is None:
        raise UsageError("-c/--context: a Docker build step needs a context (a folder or a git URL)")
    if f["set"] or f["set_secret"] or f["values"]:
        raise UsageError("--set/--set-secret/--values go with task files; a Docker step takes --arg")
    return {"type": DOCKER, **common, "imageNames": list(f["image"]), "isPushEnabled": not f["no_push"],
            "noCache": bool(f["no_cache"]), "dockerFilePath": file or INLINE_DOCKERFILE,
            "arguments": [{"name": k, "value": v, "isSecret": False} for k, v in f["arg"].items()],
            "target": f["target"]}


def _trigger(f: dict, context: str | None, given: dict) -> dict:
    git = context is not None and is_git_url(context)
    commit_on = f["commit_trigger_enabled"] if f["commit_trigger_enabled"] is not None else git
    if commit_on and not git:
        raise UsageError("--commit-trigger-enabled: a commit trigger needs a git context (repo.git#branch:subdir)")
    trigger: dict = {}
    if git:
        repo, branch, _ = split_context(context)
        auth = {"tokenType": "PAT", "scope": "repo"}  # the token itself: secrets.py, never here
        trigger["sourceTriggers"] = [{
            "name": SOURCE_TRIGGER_NAME, "sourceTriggerEvents": ["commit"], "status": ENABLED if commit_on else DISABLED,
            "sourceRepository": {"sourceControlType": provider(repo), "repositoryUrl": repo, "branch": branch or "master",
                                 "sourceControlAuthProperties": auth}}]
    if f["git_access_token"]:
        if not git:
            raise UsageError("--git-access-token: goes with a git context")
        given[secrets.GIT_TOKEN] = f["git_access_token"]
    trigger["baseImageTrigger"] = {
        "name": BASE_IMAGE_TRIGGER_NAME, "updateTriggerPayloadType": "Default",
        "baseImageTriggerType": _choice(f["base_image_trigger_type"], (RUNTIME, ALL), "--base-image-trigger-type"),
        "status": ENABLED if f["base_image_trigger_enabled"] else DISABLED}
    timers = [t if isinstance(t, dict) else timer.parse_schedule(t, i + 1) for i, t in enumerate(f["schedule"])]
    names = [t["name"] for t in timers]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise UsageError(f"--schedule: two timers are named {duplicate!r}")
    if timers:
        trigger["timerTriggers"] = timers
    return trigger


def _identity(assign: list[str] | None, previous: dict | None) -> dict | None:
    if assign is None:
        return previous
    system = not assign or any(a.lower() in ("system", "[system]") for a in assign)
    user_ids = [a for a in assign if a.lower() not in ("system", "[system]")]
    for rid in user_ids:
        if not _IDENTITY_ID.match(rid):
            raise UsageError(f"--assign-identity: {rid!r} is neither `system` nor a user-assigned identity's resource "
                             "ID (/subscriptions/.../resourceGroups/.../providers/Microsoft.ManagedIdentity/"
                             "userAssignedIdentities/NAME)")
    previous = previous or {}
    identity: dict = {"type": ", ".join((["SystemAssigned"] if system else []) + (["UserAssigned"] if user_ids else []))}
    if system:  # ids as ACR hands them out: stable once assigned
        identity["principalId"] = previous.get("principalId") or str(uuid.uuid4())
        identity["tenantId"] = TENANT
    if user_ids:
        identity["userAssignedIdentities"] = {
            rid: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid + "#principal")),
                  "clientId": str(uuid.uuid5(uuid.NAMESPACE_URL, rid + "#client"))} for rid in user_ids}
    return identity


def _platform(text) -> dict:
    """`--platform` (text, or a Platform the flags parsed) as the Task resource records it."""
    try:
        platform = text if isinstance(text, Platform) else Platform.parse(text)
    except ValueError as e:
        raise UsageError(f"--platform: {e}") from None
    return platform.to_json()


def _timeout(value) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise UsageError(f"--timeout: expected a whole number of seconds, got {value!r}") from None
    if not MIN_TIMEOUT <= seconds <= MAX_TIMEOUT:
        raise UsageError(f"--timeout: ACR takes {MIN_TIMEOUT} to {MAX_TIMEOUT} seconds, got {seconds}")
    return seconds


def _choice(value: str, choices: tuple[str, ...], flag: str) -> str:
    match = next((c for c in choices if c.lower() == str(value).lower()), None)
    if match is None:
        raise UsageError(f"{flag}: expected {' or '.join(choices)}, got {value!r}")
    return match


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def decode(content: str) -> str:
    try:
        return base64.b64decode(content, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise UsageError("the task's encodedTaskContent is not base64 of UTF-8 text") from None


# -- Task JSON -> flags (for update) ------------------------------------------------------------------------------
def flags_of(resource: dict) -> dict:
    """The create flags that give this task (secret values excepted: they are carried over by reference)."""
    props, ext = resource["properties"], resource.get(EXTENSION, {})
    step, trigger = props["step"], props.get("trigger", {})
    values = [v for v in step.get("values", []) if not v.get("isSecret")]
    f: dict = {"context": None if step.get("contextPath") == "/dev/null" else step.get("contextPath"),
               "timeout": props["timeout"], "status": props["status"], "registry": ext.get("registry"),
               "platform": str(Platform.from_json(props["platform"]))}
    if step["type"] == DOCKER:
        f.update(image=step["imageNames"], no_push=not step["isPushEnabled"], no_cache=step["noCache"],
                 target=step.get("target"), arg={a["name"]: a["value"] for a in step.get("arguments", [])})
        if ext.get("dockerfile") is not None:
            f["body"] = ext["dockerfile"]
        else:
            f["file"] = step["dockerFilePath"]
    elif step["type"] == FILE_TASK:
        f.update(file=step["taskFilePath"], values=step.get("valuesFilePath"))
    else:
        content = decode(step["encodedTaskContent"])
        command = next((v["value"] for v in values if v["name"] == CMD_VALUE), None)
        if command is not None and content == CMD_TEMPLATE.format(timeout=props["timeout"]):
            f["cmd"], values = command, [v for v in values if v["name"] != CMD_VALUE]
        else:
            f["body"] = content
    f["set"] = {v["name"]: v["value"] for v in values}
    source = (trigger.get("sourceTriggers") or [None])[0]
    f["commit_trigger_enabled"] = bool(source and source["status"] == ENABLED)
    base = trigger.get("baseImageTrigger") or {}
    f["base_image_trigger_enabled"] = base.get("status", ENABLED) == ENABLED
    f["base_image_trigger_type"] = base.get("baseImageTriggerType", RUNTIME)
    f["schedule"] = copy.deepcopy(trigger.get("timerTriggers", []))
    return f


def update(resource: dict, changes: dict, *, now: str) -> tuple[dict, dict[str, str]]:
    """The task with `changes` (flags; None = unchanged) applied; as `az acr task update`."""
    check_flags(changes)
    changes = {k: v for k, v in changes.items() if v is not None}
    flags = flags_of(resource)
    if "file" in changes or "cmd" in changes or "body" in changes:
        for key in ("file", "cmd", "body"):
            flags.pop(key, None)
    flags.update(changes)
    if "context" in changes and "commit_trigger_enabled" not in changes and is_git_url(changes["context"] or ""):
        flags["commit_trigger_enabled"] = None  # a new git context: the default again (on)
    new, given = build(resource["name"], flags, now=now, previous=resource)
    if new["properties"]["step"]["type"] != resource["properties"]["step"]["type"]:
        raise UsageError(f"update: the task's step is {resource['properties']['step']['type']}; it cannot become "
                         f"{new['properties']['step']['type']} (delete and create the task)")
    # secrets not given again stay as they were (by reference)
    old_refs, refs = resource.get(EXTENSION, {}).get("secretRefs", {}), new[EXTENSION]["secretRefs"]
    if "set_secret" not in changes:
        kept = [v for v in resource["properties"]["step"].get("values", []) if v.get("isSecret")]
        if kept:
            new["properties"]["step"].setdefault("values", []).extend(kept)
        refs.update({k: r for k, r in old_refs.items() if k != secrets.GIT_TOKEN})
    if "git_access_token" not in changes and secrets.GIT_TOKEN in old_refs and new["properties"]["trigger"].get("sourceTriggers"):
        refs[secrets.GIT_TOKEN] = old_refs[secrets.GIT_TOKEN]
    return new, given


# -- reading a task ------------------------------------------------------------------------------------------------
def public(resource: dict) -> dict:
    """The Task resource as ACR's GET returns it: no acrmagic key, no secrets (tokens, secret values)."""
    out = copy.deepcopy({k: v for k, v in resource.items() if k != EXTENSION})
    step = out["properties"]["step"]
    step.pop("contextAccessToken", None)
    for key in ("values", "arguments"):
        if key in step:
            step[key] = [v for v in step[key] if not v.get("isSecret")]
    for source in out["properties"].get("trigger", {}).get("sourceTriggers", []):
        source["sourceRepository"].pop("sourceControlAuthProperties", None)
    return out


def step_type(resource: dict) -> str:
    return resource["properties"]["step"]["type"]


def context(resource: dict) -> str | None:
    path = resource["properties"]["step"].get("contextPath")
    return None if path in (None, "/dev/null") else path


def git_source(resource: dict) -> tuple[str, str, str] | None:
    """(repository URL, branch, subdir) of a task whose context is a git repository."""
    ctx = context(resource)
    if not ctx or not is_git_url(ctx):
        return None
    repo, _, subdir = split_context(ctx)
    sources = resource["properties"].get("trigger", {}).get("sourceTriggers") or []
    branch = sources[0]["sourceRepository"]["branch"] if sources else (split_context(ctx)[1] or "master")
    return repo, branch, subdir


def enabled(resource: dict) -> bool:
    return resource["properties"]["status"] == ENABLED


def commit_trigger(resource: dict) -> dict | None:
    sources = resource["properties"].get("trigger", {}).get("sourceTriggers") or []
    return sources[0] if sources and sources[0]["status"] == ENABLED else None


def base_image_trigger(resource: dict) -> dict | None:
    base = resource["properties"].get("trigger", {}).get("baseImageTrigger")
    return base if base and base.get("status") == ENABLED else None


def timer_triggers(resource: dict) -> list[dict]:
    return resource["properties"].get("trigger", {}).get("timerTriggers", [])


def secret_ref(resource: dict, key: str) -> str | None:
    return resource.get(EXTENSION, {}).get("secretRefs", {}).get(key)


def run_type(resource: dict) -> str:
    """ACR's run type of a triggered run: AutoBuild for a Docker step, AutoRun for a task."""
    from ..states import AUTO_BUILD, AUTO_RUN

    return AUTO_BUILD if step_type(resource) == DOCKER else AUTO_RUN


def manual_trigger(name: str) -> dict:
    """What a manual `task run` records, locally and in ACR alike: real ACR records `az acr task run` as a
    QuickRun of the task, whatever its step (tests/data/acr_recorded/test_acr_task.json); only a
    trigger's runs are AutoBuild/AutoRun."""
    from ..states import MANUAL, QUICK_RUN

    return {"runType": QUICK_RUN, "type": MANUAL, "task": name, "details": {}}
