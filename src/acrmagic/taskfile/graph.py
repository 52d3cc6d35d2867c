"""The step graph (graph/dag.go): edges from `when`, or from the step directly above when there is none.

`when` may only name earlier steps, so a cycle cannot be written. A parent listed twice is kept once:
acr-builder counts it twice and the child then never starts (the run hangs); we de-duplicate.
"""

from __future__ import annotations

from .load import Source
from .model import IMMEDIATE, ROOT_ID, Step, task_file_error, validate_step


def build_graph(steps: list[Step], src: Source) -> dict[str, list[str]]:
    """Step id -> parent ids (file order), validating each step as it is added."""
    parents: dict[str, list[str]] = {}
    previous = None
    for step in steps:
        validate_step(step, src)
        if step.id == ROOT_ID:
            raise task_file_error(f"{ROOT_ID} is a reserved ID, it can't be used", "reserved_id", src, *step.at("id"), step=step.id)
        if step.id in parents:
            raise task_file_error(f"{step.id} already exists as a vertex", "duplicate_step_id", src, *step.at("id"), step=step.id)
        if step.when == [IMMEDIATE] or step.when == [ROOT_ID]:
            edges = []
        elif not step.when:
            edges = [previous] if previous else []
        else:
            edges = []
            for i, dep in enumerate(step.when):
                if dep not in parents and dep != ROOT_ID:
                    raise task_file_error(f"{dep} does not exist as a vertex [from: {dep}, to: {step.id}]",
                               "unknown_when_reference", src, *step.at("when", i), step=step.id)
                if dep != ROOT_ID and dep not in edges:
                    edges.append(dep)
        parents[step.id] = edges
        previous = step.id
    return parents


def levels(parents: dict[str, list[str]]) -> list[list[str]]:
    """Groups of steps that can run at the same time: each step one level below its deepest parent."""
    depth: dict[str, int] = {}
    for sid, ps in parents.items():  # parents always come earlier in the file
        depth[sid] = 1 + max((depth[p] for p in ps), default=-1)
    out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for sid, d in depth.items():
        out[d].append(sid)
    return out
