"""Parsing: lexed pieces into a tree of text, actions, pipelines and if / with / range blocks.

A node is a tuple whose first item names its kind: ("text", s), ("action", pipeline, line),
(keyword, pipeline, body, else_body, line) for if / with / range, ("break" | "continue", line). A pipeline is
("pipeline", declared variables, is an assignment, commands, line); a command is a list of operands:
("field", names), ("dot",), ("var", name, names), ("literal", value), ("func", name), ("sub", pipeline, names).
"""

from __future__ import annotations

from ...errors import TemplateError
from .functions import FUNCS
from .lexer import pieces, tokens


class Parser:
    def __init__(self, src: str, name: str):
        self.name = name
        self.pieces = pieces(src)
        self.i = 0

    def error(self, line: int, msg: str):
        raise TemplateError("parse", f"template: {self.name}:{line}: {msg}", line)

    def parse(self):
        body, end = self.list()
        if end is not None:
            self.error(end[2], f"unexpected {{{{{end[0]}}}}}")
        return body

    def list(self):
        """Nodes up to an {{end}} / {{else ...}} (returned as the second value) or the end of input."""
        nodes = []
        while self.i < len(self.pieces):
            kind, text, line = self.pieces[self.i]
            self.i += 1
            if kind == "text":
                if text:
                    nodes.append(("text", text))
                continue
            stripped = text.strip()
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    self.error(line, "unclosed comment")
                continue
            toks = tokens(text, line)
            if not toks:
                self.error(line, "missing value for command")
            head = toks[0]
            if head == ("ident", "end"):
                return nodes, ("end", toks[1:], line)
            if head == ("ident", "else"):
                return nodes, ("else", toks[1:], line)
            if head[0] == "ident" and head[1] in ("if", "with", "range"):
                nodes.append(self.control(head[1], toks[1:], line))
            elif head[0] == "ident" and head[1] in ("break", "continue"):
                nodes.append((head[1], line))
            elif head[0] == "ident" and head[1] in ("define", "template", "block"):
                self.error(line, f"{{{{{head[1]}}}}} is not supported in task files")
            else:
                nodes.append(("action", self.pipeline(toks, line), line))
        return nodes, None

    def control(self, keyword: str, toks, line):
        pipe = self.pipeline(toks, line, allow_decl=True, range_decl=keyword == "range")
        body, end = self.list()
        if end is None:
            self.error(line, f"unexpected EOF in {keyword}")
        else_body = None
        if end[0] == "else":
            rest = end[1]
            if rest and rest[0] == ("ident", "if") and keyword == "if":
                else_body = [self.control("if", rest[1:], end[2])]  # else if: the nested if takes the {{end}}
                return ("if", pipe, body, else_body, line)
            if rest and rest[0] == ("ident", "with") and keyword == "with":
                else_body = [self.control("with", rest[1:], end[2])]
                return ("with", pipe, body, else_body, line)
            if rest:
                self.error(end[2], "unexpected tokens after else")
            else_body, end2 = self.list()
            if end2 is None or end2[0] != "end":
                self.error(line, f"expected end; found {'EOF' if end2 is None else end2[0]}")
        return (keyword, pipe, body, else_body, line)

    def pipeline(self, toks, line, allow_decl=True, range_decl=False):
        decl, assign = [], False
        if toks and toks[0][0] == "variable":
            j = 1
            names = [toks[0][1]]
            if range_decl and len(toks) > 2 and toks[1][0] == "comma" and toks[2][0] == "variable":
                names.append(toks[2][1])
                j = 3
            if len(toks) > j and toks[j][0] in ("declare", "assign"):
                decl, assign, toks = names, toks[j][0] == "assign", toks[j + 1:]
        commands, cur, depth = [], [], 0
        for tok in toks:
            if tok[0] == "lparen":
                depth += 1
            elif tok[0] == "rparen":
                depth -= 1
                if depth < 0:
                    self.error(line, "unexpected right paren")
            if tok[0] == "pipe" and depth == 0:
                commands.append(cur)
                cur = []
            else:
                cur.append(tok)
        if depth:
            self.error(line, "unclosed left paren")
        commands.append(cur)
        if any(not c for c in commands):
            self.error(line, "missing value for command")
        return ("pipeline", decl, assign, [self.command(c, line) for c in commands], line)

    def command(self, toks, line):
        args, i = [], 0
        while i < len(toks):
            kind, val = toks[i]
            if kind == "lparen":
                depth, j = 1, i + 1
                while depth:
                    depth += {"lparen": 1, "rparen": -1}.get(toks[j][0], 0)
                    j += 1
                inner = self.pipeline(toks[i + 1:j - 1], line)
                chain = []
                if j < len(toks) and toks[j][0] == "field":
                    chain, j = toks[j][1].split(".")[1:], j + 1
                args.append(("sub", inner, chain))
                i = j
                continue
            if kind == "field":
                args.append(("field", val.split(".")[1:]))
            elif kind == "dot":
                args.append(("dot",))
            elif kind == "variable":
                chain = []
                if i + 1 < len(toks) and toks[i + 1][0] == "field":
                    chain = toks[i + 1][1].split(".")[1:]
                    i += 1
                args.append(("var", val, chain))
            elif kind in ("literal", "nil"):
                args.append(("literal", val))
            elif kind == "ident":
                if val not in FUNCS:
                    self.error(line, f'function "{val}" not defined')
                args.append(("func", val))
            else:
                self.error(line, f"unexpected {val!r} in operand")
            i += 1
        return args


def parse(src: str, name: str = "task"):
    """The tree of `src`; a TemplateError (phase "parse") naming the line otherwise."""
    return Parser(src, name).parse()
