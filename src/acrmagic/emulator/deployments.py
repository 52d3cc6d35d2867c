"""ARM template deployments of ACR Tasks resources: `az deployment group create` with a template that
declares taskRuns or tasks (ACR's quick-build and task templates), as the Azure CLI's taskrun scenario
does it.

`POST .../deployments/{name}/validate`, `PUT .../deployments/{name}` (201 Accepted, an operation to
poll, Succeeded at once), `GET .../deployments/{name}` (outputs, outputResources). The template's
expressions are evaluated for the functions such templates use: `parameters()`, `variables()`,
`concat()`, `resourceGroup()` (`.location`, `.name`, `.id`), `subscription()` (`.subscriptionId`).
Other resource types or functions are refused with 400 `InvalidTemplate`, naming them.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import uuid

from starlette.routing import Route

from ..errors import ArmError
from .arm import bad_request, timestamp, utc_now

DEPLOYMENT_TYPE = "Microsoft.Resources/deployments"
_G = "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Resources/deployments/{deployment}"
_NAME = re.compile(r"^[-\w._()]{1,64}$")
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),.\[\]]))")
_TYPES = {"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool", "object": "Object",
          "secureobject": "SecureObject", "array": "Array"}
#: the resource types a template may deploy here, and the API that makes them
SUPPORTED = ("Microsoft.ContainerRegistry/registries/taskRuns", "Microsoft.ContainerRegistry/registries/tasks")


def _invalid(message: str) -> ArmError:
    return bad_request(message, "InvalidTemplate", target="template")


class _Expression:
    """One `[...]` template expression."""

    def __init__(self, text: str, scope: dict):
        self.tokens, self.i, self.scope = [], 0, scope
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip():
                    raise _invalid(f"cannot read the expression [{text}] at {text[pos:pos + 20]!r}")
                break
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()

    def _take(self, value: str | None = None):
        if self.i >= len(self.tokens) or (value is not None and self.tokens[self.i][1] != value):
            raise _invalid(f"expected {value or 'more'} in a template expression")
        self.i += 1
        return self.tokens[self.i - 1]

    def value(self):
        out = self._term()
        if self.i != len(self.tokens):
            raise _invalid(f"unexpected {self.tokens[self.i][1]!r} in a template expression")
        return out

    def _term(self):
        kind, text = self._take()
        if kind == "str":
            out = text[1:-1].replace("''", "'")
        elif kind == "num":
            out = int(text)
        elif kind == "word":
            self._take("(")
            args = []
            while self.i < len(self.tokens) and self.tokens[self.i][1] != ")":
                args.append(self._term())
                if self.i < len(self.tokens) and self.tokens[self.i][1] == ",":
                    self.i += 1
            self._take(")")
            out = self._call(text, args)
        else:
            raise _invalid(f"unexpected {text!r} in a template expression")
        while self.i < len(self.tokens) and self.tokens[self.i][1] in (".", "["):
            if self._take()[1] == ".":
                key = self._take()[1]
            else:
                key = self._term()
                self._take("]")
            try:
                out = out[key]
            except (KeyError, IndexError, TypeError):
                raise _invalid(f"the template asks for {key!r}, which is not there") from None
        return out

    def _call(self, name: str, args: list):
        fn = name.lower()
        if fn in ("parameters", "variables") and len(args) == 1:
            table = self.scope[fn]
            if args[0] not in table:
                raise _invalid(f"the template uses {fn}('{args[0]}'), which it does not declare")
            return table[args[0]]
        if fn == "concat":
            if all(isinstance(a, list) for a in args):
                return [x for a in args for x in a]
            return "".join(str(a) for a in args)
        if fn == "resourcegroup" and not args:
            return self.scope["resourceGroup"]
        if fn == "subscription" and not args:
            return self.scope["subscription"]
        raise _invalid(f"the emulator's templates do not know the function {name}()")


def evaluate(value, scope: dict):
    """The template value with its `[...]` expressions evaluated (`[[` escapes a literal bracket)."""
    if isinstance(value, str):
        if value.startswith("[["):
            return value[1:]
        if value.startswith("[") and value.endswith("]"):
            return _Expression(value[1:-1], scope).value()
        return value
    if isinstance(value, dict):
        return {evaluate(k, scope): evaluate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    return value


class DeploymentsApi:
    def __init__(self, arm):
        self.arm = arm
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str, str], dict] = {}

    def _plan(self, call) -> tuple[dict, list[tuple[str, str, dict]], dict]:
        """(the deployment's JSON base, the resources to make (type, name, body), the outputs)."""
        sub, rg, name = call.param("subscription"), call.param("resource_group"), call.param("deployment")
        rg = self.arm.store.check_resource_group(sub, rg)
        if not _NAME.fullmatch(name):
            raise bad_request(f"The deployment name '{name}' is invalid.", "InvalidDeploymentName")
        props = call.object_body().get("properties")
        if not isinstance(props, dict) or not isinstance(props.get("template"), dict):
            raise _invalid("properties.template (the template itself; templateLink is not served offline) is required")
        template, given = props["template"], props.get("parameters") or {}
        if not isinstance(given, dict) or not all(isinstance(v, dict) for v in given.values()):
            raise bad_request("properties.parameters maps names to {\"value\": ...}.", "InvalidTemplate",
                              target="parameters")
        declared = template.get("parameters") or {}
        if not isinstance(declared, dict):
            raise _invalid("the template's parameters must be an object")
        location = self.arm.store.group_location(sub, rg) or "eastus"
        scope = {"parameters": {}, "variables": {}, "subscription": {"subscriptionId": sub, "id": f"/subscriptions/{sub}"},
                 "resourceGroup": {"name": rg, "location": location, "id": f"/subscriptions/{sub}/resourceGroups/{rg}"}}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise _invalid(f"the template does not declare the parameters {', '.join(unknown)}")
        typed = {}
        for key, spec in declared.items():
            spec = spec if isinstance(spec, dict) else {}
            if key in given:
                value = given[key].get("value")
            elif "defaultValue" in spec:
                value = evaluate(spec["defaultValue"], scope)
            else:
                raise _invalid(f"the template's parameter '{key}' has no value and no default")
            scope["parameters"][key] = value
            typed[key] = {"type": _TYPES.get(str(spec.get("type", "string")).lower(), "String"), "value": value}
        for key, expr in (template.get("variables") or {}).items():
            scope["variables"][key] = evaluate(expr, scope)
        resources = []
        for item in template.get("resources") or []:
            if not isinstance(item, dict):
                raise _invalid("every resource of the template is an object")
            kind = str(evaluate(item.get("type", ""), scope)).rstrip("/")
            if kind.lower() not in (s.lower() for s in SUPPORTED):
                raise _invalid(f"the emulator deploys {' and '.join(SUPPORTED)}, not {kind or 'a resource without a type'}")
            full = evaluate(item.get("name", ""), scope)
            if not isinstance(full, str) or full.count("/") != 1:
                raise _invalid(f"the resource name '{full}' should be REGISTRY/NAME")
            body = {k: evaluate(v, scope) for k, v in item.items() if k in ("location", "properties", "identity", "tags")}
            resources.append((next(s for s in SUPPORTED if s.lower() == kind.lower()), full, body))
        outputs = {k: {"type": _TYPES.get(str(v.get("type", "string")).lower(), "String"),
                       "value": evaluate(v.get("value"), scope)}
                   for k, v in (template.get("outputs") or {}).items() if isinstance(v, dict)}
        text = json.dumps(template, sort_keys=True)
        providers = {}
        for kind, _, body in resources:
            namespace, _, rtype = kind.partition("/")
            providers.setdefault((namespace, rtype), set()).add(body.get("location") or location)
        base = {"id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{DEPLOYMENT_TYPE}/{name}", "name": name,
                "type": DEPLOYMENT_TYPE,
                "properties": {"templateHash": str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)),
                               "parameters": typed, "mode": props.get("mode") or "Incremental",
                               "provisioningState": "Succeeded", "timestamp": timestamp(utc_now()), "duration": "PT0S",
                               "correlationId": str(uuid.uuid4()),
                               "providers": [{"namespace": ns, "resourceTypes": [{"resourceType": rt,
                                                                                  "locations": sorted(locs)}]}
                                             for (ns, rt), locs in providers.items()],
                               "dependencies": []}}
        return base, resources, outputs

    def _resource_id(self, call, kind: str, full: str) -> str:
        registry, _, child = full.partition("/")
        return (f"/subscriptions/{call.param('subscription')}/resourceGroups/{call.param('resource_group')}/providers/"
                f"Microsoft.ContainerRegistry/registries/{registry}/{kind.rsplit('/', 1)[-1]}/{child}")

    def validate(self, call) -> dict:
        base, resources, _ = self._plan(call)
        for _, full, _ in resources:  # the registries must be there
            self.arm.store.registry(call.param("subscription"), call.param("resource_group"), full.split("/")[0])
        base["properties"] = {**base["properties"], "extensions": [],
                              "validatedResources": [{"id": self._resource_id(call, k, f)} for k, f, _ in resources]}
        return base

    def put(self, call) -> dict:
        base, resources, outputs = self._plan(call)
        made = []
        for kind, full, body in resources:
            registry, _, child = full.partition("/")
            reg = self.arm.store.registry(call.param("subscription"), call.param("resource_group"), registry)
            if kind.endswith("/taskRuns"):
                self.arm.task_runs.create(reg, child, body, call.claims)
            else:
                self.arm.tasks.create(reg, child, body, call.claims)
            made.append({"id": self._resource_id(call, kind, full), "resourceType": kind})
        done = {**base, "properties": {**base["properties"], "extensions": [], "outputs": outputs,
                                       "outputResources": made}}
        key = (call.param("subscription").lower(), call.param("resource_group").lower(), call.param("deployment").lower())
        with self._lock:
            self._deployments[key] = done
        call.status = 201
        call.headers["Azure-AsyncOperation"] = (f"{self.arm.base_url}{base['id']}/operationStatuses/"
                                                f"{uuid.uuid4().int % 10**20}?api-version={call.api_version}")
        return {**base, "properties": {**base["properties"], "provisioningState": "Accepted"}}

    def _find(self, call) -> dict:
        key = (call.param("subscription").lower(), call.param("resource_group").lower(), call.param("deployment").lower())
        self.arm.store.check_resource_group(call.param("subscription"), call.param("resource_group"))
        with self._lock:
            found = self._deployments.get(key)
        if found is None:
            raise ArmError(404, "DeploymentNotFound", f"Deployment '{call.param('deployment')}' could not be found.")
        return found

    def get(self, call) -> dict:
        return self._find(call)

    def operation(self, call) -> dict:
        self._find(call)
        return {"status": "Succeeded"}

    def routes(self) -> list[Route]:
        e = self.arm.endpoint
        return [Route(_G + "/validate", e(self.validate), methods=["POST"]),
                Route(_G, e(self.put), methods=["PUT"]),
                Route(_G, e(self.get), methods=["GET"]),
                Route(_G + "/operationStatuses/{operation}", e(self.operation), methods=["GET"])]
