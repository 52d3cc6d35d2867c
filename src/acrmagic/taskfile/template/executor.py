"""Executing a parsed tree over plain data (dicts, lists, scalars) with missingkey=zero, counting the
output and the work done against the limits, calling only the functions of the fixed table."""

from __future__ import annotations

from ...errors import TemplateBreak, TemplateContinue, TemplateError
from .functions import FUNCS, READS_ENVIRON
from .govalue import go_str, go_type, truth
from .limits import OUTPUT_LIMIT, WORK_LIMIT


class Executor:
    def __init__(self, name: str, data, environ: dict[str, str]):
        self.name, self.root, self.environ = name, data, environ
        self.out: list[str] = []
        self.size = self.work = 0
        self.line = 1  # of the last action: where a limit is reached in plain text

    def emit(self, text: str, line) -> None:
        self.size += len(text)
        if self.size > OUTPUT_LIMIT:
            self.error(line or self.line, f"the rendered task exceeds {OUTPUT_LIMIT // 2 ** 20} MiB")
        self.out.append(text)

    def tick(self, line) -> None:
        self.line = line or self.line
        self.work += 1
        if self.work > WORK_LIMIT:
            self.error(self.line, f"rendering takes more than {WORK_LIMIT} steps (a runaway range?)")

    def error(self, line, msg):
        raise TemplateError("exec", f"template: {self.name}:{line}: {msg}", line)

    def run(self, nodes, dot, scope: list[dict]):
        for node in nodes:
            kind = node[0]
            self.tick(node[-1] if isinstance(node[-1], int) else None)
            if kind == "text":
                self.emit(node[1], None)
            elif kind == "action":
                value = self.pipeline(node[1], dot, scope)
                if not node[1][1]:  # a declaration prints nothing
                    self.emit(go_str(value), node[2])
            elif kind in ("if", "with"):
                _, pipe, body, else_body, _ = node
                inner = [*scope, {}]
                value = self.pipeline(pipe, dot, inner)
                if truth(value):
                    self.run(body, value if kind == "with" else dot, inner)
                elif else_body:
                    self.run(else_body, dot, inner)
            elif kind == "range":
                self.range(node, dot, scope)
            elif kind == "break":
                raise TemplateBreak()
            elif kind == "continue":
                raise TemplateContinue()

    def range(self, node, dot, scope):
        _, pipe, body, else_body, line = node
        decl = pipe[1]
        value = self.pipeline(("pipeline", [], False, pipe[3], line), dot, scope)
        if isinstance(value, dict):
            items, count = [(k, value[k]) for k in sorted(value, key=str)], len(value)
        elif isinstance(value, (list, tuple)):
            items, count = enumerate(value), len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            items, count = ((i, i) for i in range(value)), value  # lazily: the work limit stops a huge one
        elif value is None:
            items, count = [], 0
        else:
            self.error(line, f"range can't iterate over {go_str(value)}")
        if count <= 0:
            if else_body:
                self.run(else_body, dot, scope)
            return
        for key, item in items:
            self.tick(line)
            frame = {}
            if len(decl) == 1:
                frame[decl[0]] = item
            elif len(decl) == 2:
                frame[decl[0]], frame[decl[1]] = key, item
            try:
                self.run(body, item, [*scope, frame])
            except TemplateBreak:
                break
            except TemplateContinue:
                continue

    def pipeline(self, pipe, dot, scope):
        _, decl, assign, commands, line = pipe
        value, first = None, True
        for cmd in commands:
            value = self.command(cmd, dot, scope, line, None if first else value, not first)
            first = False
        for name in decl:
            if assign:
                for frame in reversed(scope):
                    if name in frame:
                        frame[name] = value
                        break
                else:
                    self.error(line, f"undefined variable: {name}")
            else:
                scope[-1][name] = value
        return value

    def command(self, args, dot, scope, line, piped, has_piped):
        head = args[0]
        if head[0] == "func":
            name = head[1]
            if name in ("and", "or"):  # short-circuit: later operands are not evaluated (Go 1.18+)
                return self.logic(name, args[1:], dot, scope, line, piped, has_piped)
            values = [self.operand(a, dot, scope, line) for a in args[1:]]
            if has_piped:
                values.append(piped)
            return self.call(name, values, line)
        if len(args) > 1 or has_piped:
            self.error(line, f"can't give argument to non-function {self.describe(head)}")
        return self.operand(head, dot, scope, line)

    def logic(self, name, arg_nodes, dot, scope, line, piped, has_piped):
        nodes = list(arg_nodes)
        if not nodes and not has_piped:
            self.error(line, f"wrong number of args for {name}: want at least 1 got 0")
        value = None
        for node in nodes:
            value = self.operand(node, dot, scope, line)
            if (name == "and") != truth(value):
                return value
        if has_piped:
            value = piped
        return value

    def describe(self, node):
        return {"field": lambda: "." + ".".join(node[1]), "var": lambda: node[1], "literal": lambda: go_str(node[1]),
                "dot": lambda: "."}.get(node[0], lambda: "value")()

    def operand(self, node, dot, scope, line):
        kind = node[0]
        if kind == "literal":
            return node[1]
        if kind == "dot":
            return dot
        if kind == "field":
            return self.chain(dot, node[1], line, "")
        if kind == "var":
            name = node[1]
            if name == "$":
                base = self.root
            else:
                for frame in reversed(scope):
                    if name in frame:
                        base = frame[name]
                        break
                else:
                    self.error(line, f'undefined variable "{name}"')
            return self.chain(base, node[2], line, name)
        if kind == "sub":
            return self.chain(self.pipeline(node[1], dot, scope), node[2], line, "")
        if kind == "func":
            return self.call(node[1], [], line)
        self.error(line, "bad operand")

    def chain(self, value, names, line, prefix):
        for name in names:
            if isinstance(value, dict):
                value = value.get(name)  # missingkey=zero: a missing key is the zero value (no value)
            elif value is None:
                self.error(line, f"nil pointer evaluating interface {{}}.{name}")
            else:
                self.error(line, f"can't evaluate field {name} in type {go_type(value)}")
        return value

    def call(self, name, values, line):
        fn, kinds = FUNCS[name]
        if kinds is not None:
            fixed = [k for k in kinds if not k.startswith("*")]
            variadic = len(fixed) < len(kinds)
            if len(values) < len(fixed) or (not variadic and len(values) > len(fixed)):
                self.error(line, f"wrong number of args for {name}: want {len(fixed)} got {len(values)}")
            for i, value in enumerate(values):  # past the fixed ones, arguments are of the variadic kind
                values[i] = _coerce(value, kinds[min(i, len(kinds) - 1)].lstrip("*"), name, i, self, line)
        if name in READS_ENVIRON:
            values = [self.environ, *values]
        try:
            return fn(*values)
        except TemplateError:
            raise
        except Exception as e:  # a function refused its input: Go reports "error calling <fn>"
            self.error(line, f"error calling {name}: {e}")



def _coerce(value, kind, fname, index, ex, line):
    if kind == "a":
        return value
    if value is None:
        ex.error(line, f"error calling {fname}: invalid value; expected {_KIND_NAMES[kind]}")
    if kind == "s" and not isinstance(value, str):
        ex.error(line, f"wrong type for value; expected string; got {go_type(value)}")
    if kind == "i":  # Go passes only an int to an int parameter (a float64 is a type error)
        if isinstance(value, bool) or not isinstance(value, int):
            ex.error(line, f"wrong type for value; expected int; got {go_type(value)}")
        return value
    if kind == "l" and not isinstance(value, (list, tuple)):
        ex.error(line, f"wrong type for value; expected []interface {{}}; got {go_type(value)}")
    if kind == "m" and not isinstance(value, dict):
        ex.error(line, f"wrong type for value; expected map[string]interface {{}}; got {go_type(value)}")
    return value


_KIND_NAMES = {"s": "string", "i": "int", "l": "[]interface {}", "m": "map[string]interface {}"}


def execute(tree, data, name: str, environ: dict[str, str]) -> str:
    """The text `tree` renders over `data` (`<no value>`s still in it); `environ` is what `env` sees."""
    ex = Executor(name, data, dict(environ))
    try:
        ex.run(tree, data, [{"$": data}])
    except (TemplateBreak, TemplateContinue):
        raise TemplateError("exec", f"template: {name}: break or continue outside range") from None
    except RecursionError:
        raise TemplateError("exec", f"template: {name}: too deeply nested") from None
    return "".join(ex.out)
