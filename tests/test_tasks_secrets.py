"""Where task secrets live: env, a 0600 file, or this process's memory; never the store."""

from __future__ import annotations

import pytest

from acrmagic.errors import UsageError
from acrmagic.tasks import secrets


def test_env_name():
    assert secrets.env_name("my-task", secrets.GIT_TOKEN) == "ACRMAGIC_GIT_TOKEN_MY_TASK"
    assert secrets.env_name("my-task", "pw") == "ACRMAGIC_SECRET_MY_TASK_PW"


def test_memory_env_and_file(tmp_path, monkeypatch):
    ref = secrets.reference("tok", "--git-access-token")
    assert ref == "memory"
    secrets.remember("h", "task1", secrets.GIT_TOKEN, "tok")
    assert secrets.read("h", "task1", secrets.GIT_TOKEN, ref, "the git access token") == "tok"
    monkeypatch.setenv("ACRMAGIC_GIT_TOKEN_TASK1", "from-env")
    assert secrets.read("h", "task1", secrets.GIT_TOKEN, ref, "the git access token") == "from-env"
    monkeypatch.delenv("ACRMAGIC_GIT_TOKEN_TASK1")
    secrets.forget("h", "task1")
    with pytest.raises(UsageError, match="set ACRMAGIC_GIT_TOKEN_TASK1 or give it as @FILE"):
        secrets.read("h", "task1", secrets.GIT_TOKEN, ref, "the git access token")

    file = tmp_path / "token"
    file.write_text("file-token\n")
    file.chmod(0o644)
    with pytest.raises(UsageError, match="readable by others.*chmod 600"):
        secrets.reference(f"@{file}", "--git-access-token")
    file.chmod(0o600)
    ref = secrets.reference(f"@{file}", "--git-access-token")
    assert ref == f"file:{file}"
    assert secrets.read("h", "task2", secrets.GIT_TOKEN, ref, "t") == "file-token"
    with pytest.raises(UsageError, match="no secret file"):
        secrets.reference(f"@{tmp_path / 'missing'}", "--git-access-token")
    assert secrets.read("h", "task3", secrets.GIT_TOKEN, None, "t") is None
