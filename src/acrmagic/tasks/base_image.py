"""Base-image triggers: which base images a task stands on, their digests now, and in which order
tasks built on each other rebuild.

A task's watch list comes from its last run's record (`Run.base_images`: every external `FROM`, ARGs
substituted, with the digest the build used). `Runtime` watches the final stage's base image only,
`All` every stage's, as ACR. A task that never ran watches nothing yet (as in ACR, the first run
registers the dependencies).

Digests are read with a manifest HEAD, once per image per tick however many tasks use it: loopback
registries over plain HTTP (`registry.manifest_digest`), Docker Hub names through the offline mirror
the engine pulls them from, other registries over HTTPS with their anonymous bearer-token challenge.

Cascades: a task whose base image is another task's output waits while that task has a run pending
or running, then sees every change at once and rebuilds once, after it (dependency order).

`check` is the scheduler's look at one task's base images each tick; `after_run` what a run teaches it.
"""

from __future__ import annotations

import re
from concurrent.futures import Executor
from datetime import datetime

from .. import config, dockerfile, refs
from ..acrspec import IMAGE_UPDATE_TRIGGER
from ..errors import AcrMagicError, RegistryUnavailable, UsageError
from ..registry import MANIFEST_TYPES, manifest_digest
from ..states import SUCCEEDED
from . import definition as d
from .store import Fire, TaskStore, new_fire_id
from .trigger_state import BASE_IMAGE_ERROR, TriggerState

KIND = IMAGE_UPDATE_TRIGGER

_LOOPBACK = ("localhost", "127.0.0.1")


def runtime_base(text: str, build_args: dict[str, str] | None = None) -> str | None:
    """The external image the final stage stands on (following `FROM earlier-stage` back), normalized."""
    images = dockerfile.base_images(text, build_args)
    stages: dict[str, str | None] = {}  # stage name -> the external image it stands on
    last: str | None = None
    for line in dockerfile.logical_lines(text):
        keyword, _, rest = line.partition(" ")
        if keyword.upper() != "FROM":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        if not words:
            continue
        # dockerfile.base_images did the ARG substitution; re-run it on this one line to read its image
        single = dockerfile.base_images(_args_prefix(text) + f"FROM {words[0]}\n", build_args)
        image = stages.get(words[0].lower()) if words[0].lower() in stages else (single[0] if single else None)
        if words[0].isdigit() and int(words[0]) < len(stages):
            image = list(stages.values())[int(words[0])]
        last = image
        name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else f"#{len(stages)}"
        stages[name] = image
    return last if last in images else None


def _args_prefix(text: str) -> str:
    """The ARG lines before the first FROM (the only ones FROM lines can use)."""
    out = []
    for line in dockerfile.logical_lines(text):
        if line.split(" ", 1)[0].upper() == "FROM":
            break
        if line.split(" ", 1)[0].upper() == "ARG":
            out.append(line)
    return "".join(line + "\n" for line in out)


def watch_list(run, trigger_type: str) -> dict[str, str]:
    """{image: digest} a task's base-image trigger watches after `run` (a Run record)."""
    return watched(run.base_images, run.dockerfile, (run.request or {}).get("buildArgs"), trigger_type)


def watched(base_images: list[dict], dockerfile_text: str | None, build_args: dict | None,
            trigger_type: str) -> dict[str, str]:
    """{image: digest} to watch, of the base images a build stood on (with the digests it used):
    `All` every stage's, `Runtime` the final stage's."""
    bases = {b["image"]: b["digest"] for b in base_images if b.get("digest")}
    if trigger_type == d.ALL or not dockerfile_text:
        return bases
    final = runtime_base(dockerfile_text, build_args)
    return {final: bases[final]} if final in bases else {}


def outputs(run) -> list[str]:
    """The tags a run pushed, as `registry/repository:tag` (what other tasks' FROM lines name)."""
    return [f"{o.registry}/{o.repository}:{o.tag}" for o in run.output_images]


class DigestChecker:
    """Current manifest digests, each image asked once per tick (`clear()` between ticks)."""

    def __init__(self, mirrors: tuple[str, ...] = (config.MIRROR_REGISTRY,), timeout: float = 5):
        self.mirrors, self.timeout = mirrors, timeout
        self._cache: dict[str, str | None | Exception] = {}

    def clear(self) -> None:
        self._cache.clear()

    def prefetch(self, pool: Executor, images: set[str]) -> None:
        """Ask for many images at once, on `pool` (registries answer in parallel)."""
        todo = sorted(i for i in images if i not in self._cache)
        for image, result in zip(todo, pool.map(self._fetch, todo)):
            self._cache[image] = result

    def digest(self, image: str) -> str | None:
        """The digest `image` has now (None: the registry has no such tag); RegistryUnavailable when it
        cannot be asked."""
        if image not in self._cache:
            self._cache[image] = self._fetch(image)
        result = self._cache[image]
        if isinstance(result, Exception):
            raise result
        return result

    def _fetch(self, image: str) -> str | None | Exception:
        try:
            ref = refs.parse(image)
        except ValueError as e:
            return RegistryUnavailable(str(e))
        hosts = list(self.mirrors) if ref.registry == refs.DOCKER_HUB else [ref.registry]
        last_error = None
        for host in hosts:
            try:
                if host.split(":")[0] in _LOOPBACK:
                    return manifest_digest(host, ref.repository, ref.reference, timeout=self.timeout)
                return _https_digest(host, ref.repository, ref.reference, self.timeout)
            except Exception as e:  # OSError, requests' errors, a malformed answer: this image cannot be read
                last_error = e
        return RegistryUnavailable(f"cannot read the digest of {image}: {_short(last_error)}")


def _short(error) -> str:
    text = str(error)
    return text.split("(Caused by")[0].strip() if text else type(error).__name__


def _https_digest(host: str, repository: str, reference: str, timeout: float) -> str | None:
    """A manifest HEAD on a remote registry, answering its anonymous bearer challenge when it asks."""
    import requests  # only for remote registries: loopback ones are read with the standard library

    url = f"https://{host}/v2/{repository}/manifests/{reference}"
    headers = {"Accept": MANIFEST_TYPES}
    resp = requests.head(url, headers=headers, timeout=timeout)
    if resp.status_code == 401:
        challenge = dict(re.findall(r'(\w+)="([^"]*)"', resp.headers.get("WWW-Authenticate", "")))
        if "realm" in challenge:
            params = {k: v for k, v in challenge.items() if k in ("service", "scope")}
            params.setdefault("scope", f"repository:{repository}:pull")
            token = requests.get(challenge["realm"], params=params, timeout=timeout).json()
            headers["Authorization"] = f"Bearer {token.get('token') or token.get('access_token')}"
            resp = requests.head(url, headers=headers, timeout=timeout)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    return resp.headers.get("Docker-Content-Digest")


def changed(watch: dict[str, str], fired: dict[str, str], checker: DigestChecker) -> list[dict]:
    """The watched images whose digest moved (and not already fired for), with old and new digests."""
    out = []
    for image, old in sorted(watch.items()):
        new = checker.digest(image)
        if new and new != old and fired.get(image) != new:
            ref = refs.parse(image)
            out.append({"registry": ref.registry, "repository": ref.repository, "tag": ref.tag, "digest": new,
                        "previousDigest": old, "newDigest": new})
    return out


def dependency_order(watches: dict[str, set[str]], produces: dict[str, set[str]]) -> tuple[list[str], dict[str, set[str]]]:
    """Tasks in an order where each comes after the tasks whose images it is built on, and each task's
    direct upstream tasks. `watches`: task -> images it is built on; `produces`: task -> images it pushes."""
    producer: dict[str, set[str]] = {}
    for task, images in produces.items():
        for image in images:
            producer.setdefault(image, set()).add(task)
    upstream = {t: {p for image in images for p in producer.get(image, ()) if p != t} for t, images in watches.items()}
    order, seen, visiting = [], set(), set()

    def visit(t: str) -> None:
        if t in seen or t in visiting:  # a cycle: stop following it (it rebuilds in name order)
            return
        visiting.add(t)
        for u in sorted(upstream.get(t, ())):
            visit(u)
        visiting.discard(t)
        seen.add(t)
        order.append(t)

    for t in sorted(set(watches) | set(produces)):
        visit(t)
    return order, upstream


def after_run(store: TaskStore, task: str, run) -> None:
    """What a finished run of a task teaches its base-image trigger: the images it now stands on and
    the tags it pushed (other tasks may be built on them)."""
    if run is None or run.status != SUCCEEDED:
        return
    try:
        resource = store.get(task)
    except UsageError:
        return
    kind = (resource["properties"].get("trigger", {}).get("baseImageTrigger") or {}).get("baseImageTriggerType", d.RUNTIME)
    store.learn_base_images(task, watch_list(run, kind), outputs(run))


def check(store: TaskStore, resource: dict, state: TriggerState, now: datetime, digests: DigestChecker,
          errors: dict[str, str]) -> list[Fire]:
    """The task's base-image fire, if a watched image's digest moved; a registry that could not be read
    goes to `errors`."""
    base = state.base
    if not d.base_image_trigger(resource) or base is None or not base.watch:
        return []
    try:
        images = changed(base.watch, base.fired, digests)
    except AcrMagicError as e:
        errors[BASE_IMAGE_ERROR] = str(e)
        return []
    if not images:
        return []
    payload = {"id": new_fire_id(), "timestamp": now.isoformat(), "images": images}
    fire = store.fire_base_images(resource["name"], KIND, payload, images)
    return [fire] if fire else []


def describe(details: dict) -> str:
    return ", ".join(f"{i['repository']}:{i['tag']} {i['previousDigest'][:19]} -> {i['newDigest'][:19]}"
                     for i in details["images"])
