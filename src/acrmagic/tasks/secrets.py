"""Where a task's secrets live: never on disk in plain text, never in the Task JSON.

acrmagic has no keyring here (a headless Debian box has no Secret Service), and writing a git token
or a `--set-secret` value into tasks.sqlite would put it in every backup of ACRMAGIC_HOME. So a
secret is read, when a run or a poll needs it, from the first of:

1. the environment of the process that needs it: ACRMAGIC_GIT_TOKEN_<TASK> for the git access token,
   ACRMAGIC_SECRET_<TASK>_<KEY> for a `--set-secret KEY` (TASK and KEY upper-cased, `-` as `_`);
2. a file the user manages, given as `@PATH` (`--git-access-token @~/.config/gh-token`): only its
   path is stored, and it must be the user's own and unreadable by others (mode 0600 or stricter),
   checked at create and at every read;
3. this process's memory, for a value typed literally: it lasts as long as the kernel or command
   that was given it (the in-kernel scheduler sees it; a scheduler in another process does not,
   and says which variable or file to use instead).

What the store keeps is the *reference* ("env", "file:/abs/path", "memory"), in the task's
`acrmagic.secretRefs`, never the value.
"""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path

from ..errors import UsageError

GIT_TOKEN = "gitToken"  # the secret key of the source trigger's / context's access token
_memory: dict[tuple[str, str, str], str] = {}  # (store home, task, key) -> value, this process only
_lock = threading.Lock()


def env_name(task: str, key: str) -> str:
    """The environment variable a secret of `task` is read from."""
    task_part = re.sub(r"[^A-Za-z0-9]", "_", task).upper()
    if key == GIT_TOKEN:
        return f"ACRMAGIC_GIT_TOKEN_{task_part}"
    return f"ACRMAGIC_SECRET_{task_part}_{re.sub(r'[^A-Za-z0-9]', '_', key).upper()}"


def check_file(path: Path, what: str) -> None:
    """A secret file must exist, be a regular file of this user, and be unreadable by others."""
    try:
        st = path.stat()
    except OSError:
        raise UsageError(f"{what}: no secret file at {path}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what}: {path} is not a regular file")
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise UsageError(f"{what}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                         f"run `chmod 600 {path}`")


def check_token(value, what: str) -> str:
    """A token as git and HTTP headers carry it: one line, not empty; the message never repeats it."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{what}: the token is empty")
    if re.search(r"[\x00-\x1f\x7f\s]", value.strip()):
        raise UsageError(f"{what}: the token holds a line break, a space or a control character (one line expected)")
    return value.strip()


def reference(given: str, what: str) -> str:
    """The reference the store keeps for a secret given to create/update ("file:PATH" or "memory")."""
    if given.startswith("@"):
        path = Path(given[1:]).expanduser().resolve()
        check_file(path, what)
        return f"file:{path}"
    if not given:
        raise UsageError(f"{what}: the value is empty")
    return "memory"


def remember(home: str, task: str, key: str, given: str) -> None:
    """Keep a literal secret in this process's memory (once the task that uses it is stored)."""
    if not given.startswith("@"):
        with _lock:
            _memory[(home, task, key)] = given


def forget(home: str, task: str) -> None:
    with _lock:
        for k in [k for k in _memory if k[:2] == (home, task)]:
            del _memory[k]


def read(home: str, task: str, key: str, ref: str | None, what: str) -> str | None:
    """The secret's value now, or None when the task has none. UsageError when the task has one
    that this process cannot see (the message says how to provide it)."""
    env = os.environ.get(env_name(task, key))
    if env:
        return env
    if not ref:
        return None
    if ref.startswith("file:"):
        path = Path(ref[5:])
        check_file(path, what)
        value = path.read_text().strip()
        if not value:
            raise UsageError(f"{what}: the secret file {path} is empty")
        return value
    with _lock:
        value = _memory.get((home, task, key))
    if value is None:
        raise UsageError(f"task {task}: {what} was given to another process and acrmagic keeps secrets only in "
                         f"memory; set {env_name(task, key)} or give it as @FILE (mode 0600)")
    return value
