"""The files of a build, served to BuildKit as the docker CLI serves them: `FileSync.DiffCopy`.

BuildKit names a folder (`dir-name`: `context` or `dockerfile`) and sends the patterns it read from the
`.dockerignore` (`exclude-patterns`), the paths it wants (`include-patterns`, `followpaths`) as gRPC
metadata. We walk the folder in fsutil's order (depth first, names sorted bytewise inside each folder,
a folder before its contents) and send one STAT packet per entry, then an empty STAT. BuildKit compares
each stat with the copy it kept from the last build of the same folder (size, modification time, mode,
owner, link) and asks (REQ, by the entry's index) only for the files that differ; we answer with DATA
packets, an empty DATA ending each file; its FIN gets ours. So a rebuild after one edit moves that file.

The walk follows fsutil's (the version moby 20.10 vendors): an excluded folder is skipped whole unless
a `!` pattern could re-include something inside it; exclude patterns match as the packed context's do
(context/ignore.py); include patterns are Go globs matched per path depth; owners are sent as 0, as the
docker CLI's session resets them.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import stat as st

from ....context.ignore import matcher as ignore_matcher
from .wire import Stat

# Go's os.FileMode bits (fsutil sends a file's mode as Go sees it)
_GO_DIR, _GO_SYMLINK, _GO_DEVICE, _GO_PIPE = 1 << 31, 1 << 27, 1 << 26, 1 << 25
_GO_SETUID, _GO_SETGID, _GO_CHARDEV, _GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20
_GO_TYPE = _GO_DIR | _GO_SYMLINK | _GO_DEVICE | _GO_PIPE | (1 << 24) | _GO_CHARDEV | (1 << 19)


def go_mode(mode: int) -> int:
    out = mode & 0o777
    if mode & st.S_ISUID:
        out |= _GO_SETUID
    if mode & st.S_ISGID:
        out |= _GO_SETGID
    if mode & st.S_ISVTX:
        out |= _GO_STICKY
    if st.S_ISDIR(mode):
        out |= _GO_DIR
    elif st.S_ISLNK(mode):
        out |= _GO_SYMLINK
    elif st.S_ISFIFO(mode):
        out |= _GO_PIPE
    elif st.S_ISBLK(mode):
        out |= _GO_DEVICE
    elif st.S_ISCHR(mode):
        out |= _GO_DEVICE | _GO_CHARDEV
    return out


def is_regular(go_file_mode: int) -> bool:
    """Whether the receiver may ask for the entry's bytes (fsutil's fileCanRequestData)."""
    return go_file_mode & _GO_TYPE == 0


@functools.lru_cache(maxsize=256)  # the same few include patterns are matched against every entry of a walk
def _glob_regex(pattern: str) -> re.Pattern:
    """Go's filepath.Match as a regex: `*` and `?` stay inside one path element, `[...]` classes, `\\` escapes."""
    out, i, n = "", 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\" and i < n:
            out += re.escape(pattern[i])
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out += "\\["
                continue
            body = pattern[i:end]
            out += "[" + ("^" + body[1:] if body.startswith("^") else body.replace("\\", "\\\\")) + "]"
            i = end + 1
        else:
            out += re.escape(ch)
    return re.compile(out + r"\Z", re.DOTALL)


def _match_prefix(pattern: str, path: str) -> tuple[bool, bool]:
    """fsutil's matchPrefix: (matches, only as a parent of what the pattern names)."""
    depth = path.count("/")
    partial = False
    parts = pattern.split("/")
    if len(parts) - 1 > depth:
        pattern, partial = "/".join(parts[:depth + 1]), True
    return _glob_regex(pattern).match(path) is not None, partial


def follow_links(root: str, paths: list[str]) -> list[str]:
    """The followpaths, plus where the symlinks among them (or among their parents) point inside the folder."""
    resolved: set[str] = set()

    def add(path: str, depth: int = 0) -> None:
        parts = [p for p in posixpath.normpath(path).split("/") if p not in ("", ".")]
        current = ""
        for k, part in enumerate(parts):
            current = posixpath.join(current, part) if current else part
            full = os.path.join(root, current)
            if os.path.islink(full) and depth < 40:
                resolved.add(current)
                target = os.readlink(full)
                base = "" if target.startswith("/") else posixpath.dirname(current)
                rest = "/".join(parts[k + 1:])
                add(posixpath.join(base, target.lstrip("/"), rest), depth + 1)
                return
        if current and not current.startswith(".."):
            resolved.add(current)

    for p in paths:
        add(p)
    return sorted(resolved)


# -- the walk ------------------------------------------------------------------------------------------------------

def walk(root: str, includes: list[str] | None = None, excludes: list[str] | None = None,
         followpaths: list[str] | None = None):
    """(Stat, full path) of each entry BuildKit gets, in fsutil's order. `None` patterns: none given."""
    root = os.path.realpath(root)
    matcher = ignore_matcher(excludes) if excludes else None  # the packer's .dockerignore rules
    patterns = _include_patterns(root, includes, followpaths)
    state = {"last_included": ""}
    seen: dict[int, str] = {}
    yield from _walk_dir(root, "", patterns, matcher, state, seen)


def _walk_dir(full_dir, rel_dir, includes, matcher, state, seen):
    try:
        with os.scandir(full_dir) as found:  # each entry's lstat without building its path in Python
            entries = list(found)
    except (FileNotFoundError, NotADirectoryError):
        return
    entries.sort(key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            info = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        is_dir = st.S_ISDIR(info.st_mode)
        if includes is not None:
            last = state["last_included"]
            if not (last and rel.startswith(last + "/")):
                matched, partial = _included(includes, rel)
                if not matched:
                    continue
                if not partial and is_dir:
                    state["last_included"] = rel
        if matcher is not None and matcher.matches(rel):
            if not is_dir or not matcher.exclusions or not matcher.may_re_include_under(rel):
                continue
        yield _stat(entry.path, rel, info, go_mode(info.st_mode), seen), entry.path  # a socket: fsutil clears its bit
        if is_dir:
            yield from _walk_dir(entry.path, rel, includes, matcher, state, seen)


def select(listing: list, root: str, includes: list[str] | None = None,
           followpaths: list[str] | None = None) -> list | None:
    """What `walk(root, includes, excludes, followpaths)` gives, taken from `listing`, a walk of the same
    folder with the same excludes and no includes: the entries the include patterns let through, in the
    same order, without reading the folder again (BuildKit asks for the context with the paths its COPY
    lines name as followpaths: a second walk of the whole folder otherwise). None when a hard link
    among them points at an entry left out (a walk of only those would name another as the first)."""
    patterns = _include_patterns(os.path.realpath(root), includes, followpaths)
    if patterns is None:
        return list(listing)
    out, last_included, skipped, chosen = [], "", None, set()
    for entry in listing:
        rel, is_dir = entry[0].path, entry[0].mode & _GO_DIR != 0
        if skipped is not None and rel.startswith(skipped):
            continue  # inside a folder the walk would not have entered
        skipped = None
        if not (last_included and rel.startswith(last_included + "/")):
            matched, partial = _included(patterns, rel)
            if not matched:
                if is_dir:
                    skipped = rel + "/"
                continue
            if not partial and is_dir:
                last_included = rel
        stat = entry[0]
        if stat.linkname and not stat.mode & _GO_TYPE and stat.linkname not in chosen:
            return None  # a hard link to an entry not chosen
        chosen.add(rel)
        out.append(entry)
    return out


def _include_patterns(root: str, includes: list[str] | None, followpaths: list[str] | None) -> list[str] | None:
    """The paths a walk of `root` (its real path) keeps: the include patterns, and the followpaths with where
    their symlinks lead; None when neither is given."""
    patterns = [posixpath.normpath(p) for p in includes] if includes is not None else None
    if followpaths:
        patterns = sorted(set((patterns or []) + follow_links(root, followpaths)))
    return patterns


def _included(patterns: list[str], rel: str) -> tuple[bool, bool]:
    """(matched by an include pattern, only as a parent of what one names), as fsutil's walk decides."""
    matched, partial = False, True
    for pattern in patterns:
        ok, part = _match_prefix(pattern, rel)
        if ok:
            matched = True
            if not part:
                partial = False
                break
    return matched, partial


def _stat(full: str, rel: str, info: os.stat_result, mode: int, seen: dict[int, str]) -> Stat:
    out = Stat(path=rel, mode=mode, mod_time=info.st_mtime_ns)  # uid and gid 0, as the docker CLI sends them
    if not st.S_ISDIR(info.st_mode):
        out.size = info.st_size
        if st.S_ISLNK(info.st_mode):
            out.linkname = os.readlink(full)
        if st.S_ISBLK(info.st_mode) or st.S_ISCHR(info.st_mode):  # Go's major/minor split of the device
            rdev = info.st_rdev
            out.devmajor, out.devminor = (rdev >> 8) & 0xFFF, (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00)
        if info.st_nlink > 1 and info.st_ino in seen:
            out.linkname, out.size = seen[info.st_ino], 0
        else:
            seen[info.st_ino] = rel
    try:
        names = os.listxattr(full, follow_symlinks=False)
    except OSError:
        names = []
    for key in names:
        if not key.startswith("com.apple."):
            try:
                out.xattrs[key] = os.getxattr(full, key, follow_symlinks=False)
            except OSError:
                pass
    return out


def dockerignore_patterns(lines: list[str]) -> list[str]:
    """A `.dockerignore`'s lines as BuildKit's reader passes them on (cleaned, `/` at the start dropped),
    so a listing made with them is the listing BuildKit asks for."""
    out = []
    for line in lines:
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if pattern.startswith("//"):
                pattern = "/" + pattern.lstrip("/")
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out
