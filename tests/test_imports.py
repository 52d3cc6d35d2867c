"""Imports flow one way. Every import in the package, including those inside functions, is read from
the source; the test fails on a cycle and on an import against the layering:

    errors, states, events, refs, redact, config, textfiles, retry, owner, acrspec, platforms, keyvalues:
                                                                 the vocabulary
    taskfile/                                                    the task-file engine: no engine code
    runs/ (record, store, recorder)                              no display code, no targets
    targets/                                                     no runner, api, views
    runner -> targets, runs;  api -> runner;  views -> api and the record
    the docker SDK: only the engine client (targets/local/engine) and the ignore rules (context/ignore)
    emulator/ -> the vocabulary and the local target only (never acrmagic.tasks, runs, the ACR client)
    devstack (apt, dockerd, the mirror): development tooling, only the command line reaches it
    taskfile/template/: limits, govalue, lexer -> functions -> parser -> executor -> the package
    tasks/: each trigger's check (commit, timer, base_image) below the scheduler that calls it;
            the trigger state is plain data; the kernel's scheduler thread is reached through tasks only;
            the verbs reach ACR only through the task service's ACR side (tasks.acr_service), chosen in tasks
    no module uses another's `_private` names (`from x import _y`, `x._y`): the owner makes a public one
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "acrmagic"

VOCABULARY = {"acrmagic.errors", "acrmagic.states", "acrmagic.events", "acrmagic.refs", "acrmagic.redact",
              "acrmagic.config", "acrmagic.textfiles", "acrmagic.retry", "acrmagic.owner", "acrmagic.database",
              "acrmagic.acrspec", "acrmagic.platforms", "acrmagic.keyvalues"}
DISPLAY = ("acrmagic.views", "acrmagic.progress", "acrmagic.notebook", "acrmagic.magics")
FRONT = ("acrmagic.api", "acrmagic.cli", "acrmagic.runner") + DISPLAY


def _modules() -> dict[str, Path]:
    out = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The acrmagic modules `name` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from . import config` imports the module acrmagic.config; `from .x import y` imports acrmagic.x
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in MODULES else module for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # `import acrmagic.taskfile.model` -> that module
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _under(module: str, prefixes) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_module_is_read():
    assert {"acrmagic.runner", "acrmagic.targets.base", "acrmagic.targets.local.task_run",
            "acrmagic.taskfile.execute", "acrmagic.runs.recorder", "acrmagic.views.history"} <= set(GRAPH)
    # the walk sees imports inside functions too
    assert "acrmagic.targets.local.quick_build" in GRAPH["acrmagic.targets.local"]


def test_no_cycles():
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert cycles == []


RULES = [
    # (who, what it must not import, why)
    (tuple(VOCABULARY), lambda m: m not in VOCABULARY, "the vocabulary imports only itself"),
    ("acrmagic.taskfile", lambda m: not _under(m, ("acrmagic.taskfile",)) and m not in VOCABULARY,
     "the task-file engine sits below the engines"),
    ("acrmagic.runs", lambda m: _under(m, FRONT + ("acrmagic.targets", "acrmagic.emulator")),
     "the record, store and recorder know no display and no target"),
    ("acrmagic.targets", lambda m: _under(m, FRONT + ("acrmagic.emulator", "acrmagic.runs.store",
                                                      "acrmagic.runs.recorder")),
     "a target reports events; recording and display are the runner's"),
    ("acrmagic.runner", lambda m: _under(m, DISPLAY + ("acrmagic.api", "acrmagic.cli")),
     "the runner is handed its observer; it chooses no view"),
    ("acrmagic.emulator", lambda m: _under(m, FRONT + ("acrmagic.tasks", "acrmagic.runs", "acrmagic.targets.acr",
                                                       "acrmagic.context")),
     "the emulator is an independent oracle: the service side from the API's definitions (acrspec), never the "
     "client's task model, launch, secrets, scheduler, run store or ACR client"),
    ("acrmagic.views", lambda m: _under(m, ("acrmagic.runs.store", "acrmagic.runs.recorder", "acrmagic.targets",
                                            "acrmagic.runner", "acrmagic.taskfile")),
     "views use the public API"),
    ("acrmagic.taskfile.template", lambda m: not _under(m, "acrmagic.taskfile.template") and m not in VOCABULARY,
     "the template engine knows no task file"),
    ("acrmagic.tasks.trigger_state", lambda m: True, "the trigger state is plain data"),
    ("acrmagic.tasks.scheduler_lock", lambda m: m not in VOCABULARY, "the scheduler's lock is a file lock, no more"),
    (("acrmagic.tasks.commit", "acrmagic.tasks.timer", "acrmagic.tasks.base_image", "acrmagic.tasks.store"),
     lambda m: m in ("acrmagic.tasks.scheduler", "acrmagic.tasks.kernel_scheduler", "acrmagic.tasks.webhook"),
     "a trigger's check knows no scheduler: the scheduler (and the webhook) call it"),
    ("acrmagic.tasks.service", lambda m: m in ("acrmagic.tasks.local_service", "acrmagic.tasks.acr_service"),
     "the task service's interface knows neither side; tasks.choose picks one"),
]

# inside the template package, each module imports only those before it
TEMPLATE_ORDER = ["limits", "govalue", "lexer", "functions", "parser", "executor", ""]


@pytest.mark.parametrize("who, forbidden, why", RULES, ids=[r[2] for r in RULES])
def test_layering(who, forbidden, why):
    bad = sorted(f"{m} imports {t}" for m, ts in GRAPH.items() if _under(m, who) for t in ts if forbidden(t))
    assert bad == [], why


def test_the_template_package_flows_one_way():
    rank = {".".join(filter(None, ("acrmagic.taskfile.template", m))): i for i, m in enumerate(TEMPLATE_ORDER)}
    assert set(rank) == {m for m in GRAPH if _under(m, "acrmagic.taskfile.template")}
    bad = sorted(f"{m} imports {t}" for m in rank for t in GRAPH[m] if t in rank and rank[t] >= rank[m])
    assert bad == []


def test_the_kernel_scheduler_is_reached_through_tasks_only():
    assert sorted(m for m, ts in GRAPH.items() if "acrmagic.tasks.kernel_scheduler" in ts) == ["acrmagic.tasks"]


def test_tasks_reach_acr_only_through_the_task_service_acr_side():
    reaching = sorted(m for m, ts in GRAPH.items() if _under(m, "acrmagic.tasks")
                      for t in ts if _under(t, "acrmagic.targets.acr"))
    assert reaching == ["acrmagic.tasks.acr_service"]


def test_the_task_services_are_chosen_in_tasks_only():
    for side in ("acrmagic.tasks.local_service", "acrmagic.tasks.acr_service"):
        assert sorted(m for m, ts in GRAPH.items() if side in ts) == ["acrmagic.tasks"], side


def test_the_dev_stack_is_reached_only_from_the_command_line():
    assert sorted(m for m, ts in GRAPH.items() if "acrmagic.devstack" in ts) == ["acrmagic.cli"]


def test_every_exception_class_lives_in_errors():
    stray = []
    for name, path in MODULES.items():
        if name == "acrmagic.errors":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Exit"))
                    for b in node.bases):
                stray.append(f"{name}.{node.name}")
    assert stray == []


def test_the_docker_sdk_is_reached_only_through_the_engine_client_and_the_ignore_rules():
    """One engine client (targets/local/engine.py) for builds, pushes and task steps alike: nothing else
    makes a docker SDK client; the ignore rules use only the SDK's matcher."""
    users = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                       [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(m == "docker" or m.startswith("docker.") for m in modules):
                users.add(name)
    assert sorted(users) == ["acrmagic.context.ignore", "acrmagic.targets.local.engine"]


# A module's `_name` is its own: another acrmagic module that needs it uses a public name the owner gives
# it. Each allowed exception is listed here with its reason ("importer imports module._name": why). None
# is needed today.
PRIVATE_USES_ALLOWED: dict[str, str] = {}


def _private_uses(name: str, path: Path) -> list[str]:
    """`from acrmagic.x import _y` and `x._y` (x bound to an acrmagic module by an import) in `name`'s
    source, for x another module, as "name imports x._y"."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    uses, bound = [], {}  # bound: a local name -> the acrmagic module it is bound to

    def private(attr: str) -> bool:
        return attr.startswith("_") and not (attr.startswith("__") and attr.endswith("__"))

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                module = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                if f"{module}.{alias.name}" in MODULES:  # `from . import api`: a module, not a name in one
                    bound[alias.asname or alias.name] = f"{module}.{alias.name}"
                elif module in MODULES and module != name and private(alias.name):
                    uses.append(f"{name} imports {module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES and alias.asname:  # `import acrmagic.api as api`
                    bound[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name)
                and bound.get(node.value.id, name) != name):
            uses.append(f"{name} imports {bound[node.value.id]}.{node.attr}")
    return uses


def test_no_module_uses_another_modules_private_names():
    found = sorted(use for name, path in MODULES.items() for use in _private_uses(name, path))
    assert [u for u in found if u not in PRIVATE_USES_ALLOWED] == []


#: what a local `acrmagic build` process must not import: the cloud's SDKs, the notebook's stack, the
#: docker SDK with requests, and the parts of acrmagic only other verbs, a failed run or a notebook use
NOT_ON_THE_LOCAL_BUILD_PATH = ("azure", "msal", "IPython", "ipywidgets", "anywidget", "traitlets", "yaml", "jinja2",
                               "requests", "urllib3", "docker", "starlette", "uvicorn", "packaging", "html",
                               "acrmagic.targets.acr", "acrmagic.tasks", "acrmagic.taskfile", "acrmagic.views",
                               "acrmagic.notebook", "acrmagic.magics", "acrmagic.emulator", "acrmagic.devstack",
                               "acrmagic.commands", "acrmagic.failure", "acrmagic.targets.local.task_run",
                               "acrmagic.targets.local.task_steps", "acrmagic.targets.local.containers")


@pytest.mark.engine
def test_a_local_build_process_imports_only_what_the_build_uses(make_context, own_build_cache):
    """`acrmagic build` is a fresh process every time: whatever it imports, every build waits for."""
    import json
    import subprocess
    import sys

    ctx = make_context({"Dockerfile": "FROM busybox\nRUN echo imports-on-the-build-path\n"})
    code = ("import json, sys\nfrom acrmagic import cli\n"
            f"status = cli.main(['build', '--no-push', '--no-logs', {str(ctx)!r}])\n"
            "print(json.dumps([status, sorted(sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    status, modules = json.loads(out.splitlines()[-1])
    assert status == 0
    assert "acrmagic.targets.local.session.attachables" in modules  # the build went through the session
    assert [m for m in modules if _under(m, NOT_ON_THE_LOCAL_BUILD_PATH)] == []


#: what `%load_ext acrmagic` must not import: it registers three magics, and whatever it imports every notebook
#: waits for at its first cell. The API, the parsers' task verbs and the SDKs load with the first magic run.
NOT_ON_THE_EXTENSION_LOAD = ("acrmagic.api", "acrmagic.runner", "acrmagic.runs.store", "acrmagic.targets",
                             "acrmagic.tasks", "acrmagic.taskfile", "acrmagic.views", "yaml", "croniter", "azure",
                             "msal", "docker", "requests", "urllib3")
#: all of acrmagic it imports: the package (with the empty `runs` package, see its __init__), the magics and
#: the verbs' names they read
ON_THE_EXTENSION_LOAD = ["acrmagic", "acrmagic.commands", "acrmagic.magics", "acrmagic.notebook", "acrmagic.runs"]


def test_loading_the_extension_imports_only_the_magics():
    """`%load_ext acrmagic` in a fresh IPython process (the magics' help is built only when asked for)."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\nfrom IPython.testing.globalipapp import start_ipython\nip = start_ipython()\n"
            "ip.run_line_magic('load_ext', 'acrmagic')\n"
            "print(json.dumps([sorted(ip.magics_manager.magics['cell']), sorted(sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    cell_magics, modules = json.loads(out.splitlines()[-1])
    assert {"acrbuild", "acrtask"} <= set(cell_magics)  # the extension did load
    assert [m for m in modules if _under(m, NOT_ON_THE_EXTENSION_LOAD)] == []
    assert [m for m in modules if _under(m, PACKAGE)] == ON_THE_EXTENSION_LOAD
