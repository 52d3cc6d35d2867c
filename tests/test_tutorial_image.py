"""The tutorials' inference image, built from notebooks/model-server as a user would: a model trained
with scikit-learn, requirements pinned from this Python, pip in the build; then a sample posted to the
running container (by a client that is not acrmagic), and the tutorial's task run with its smoke test."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import joblib
import pytest
import requests

import acrmagic
from conftest import registry_digest, wait_for

pytestmark = pytest.mark.engine

SERVER = Path(__file__).resolve().parents[1] / "notebooks" / "model-server"
GENERATED = ("model.joblib", "requirements.txt", "sample.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Path:
    """A copy of the model server with its model trained and requirements pinned (train.py, as ./dev demo)."""
    folder = tmp_path_factory.mktemp("model-server")
    for path in SERVER.iterdir():
        if path.is_file() and path.name not in GENERATED:
            shutil.copy(path, folder / path.name)
    subprocess.run([sys.executable, str(folder / "train.py"), str(folder)], check=True, capture_output=True)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_built_image_serves_the_notebooks_prediction(server, engine):
    repo = f"tutorial-{uuid.uuid4().hex[:8]}"
    run = acrmagic.build(image=f"{repo}:{{{{.Run.ID}}}}", context=str(server))
    [image] = run.output_images
    assert image.digest == registry_digest(repo, image.tag)
    assert "pip install -r requirements.txt" in run.log()  # the dependencies came from the package index
    port = free_port()
    container = engine.containers.run(f"{image.registry}/{repo}:{image.tag}", detach=True, network_mode="host",
                                      environment={"PORT": str(port)})
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/health"), timeout=60, what="the served model's /health")
        sample = json.loads((server / "sample.json").read_text())
        answer = requests.post(f"{url}/predict", json={"features": sample["features"]}, timeout=10).json()
        model = joblib.load(server / "model.joblib")  # what the kernel that trained it predicts
        assert answer["label"] == sample["expected"] == model.predict([sample["features"]])[0]
        assert 0.5 < answer["probability"] <= 1
        bad = requests.post(f"{url}/predict", json={"features": [1, 2]}, timeout=10)
        assert bad.status_code == 422 and "expected 4 features" in bad.text
    finally:
        container.remove(force=True)
        engine.images.remove(f"{image.registry}/{repo}:{image.tag}", force=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_tutorials_task_serves_posts_the_sample_and_pushes_only_then(server, engine):
    port = free_port()
    repo = f"tutorial-task-{uuid.uuid4().hex[:8]}"
    run = acrmagic.run(f"""version: v1.1.0
steps:
  - id: build
    build: -t $Registry/{repo}:$ID .
  - id: serve
    cmd: $Registry/{repo}:$ID
    env: ["PORT={port}"]
    detach: true
  - id: predict
    cmd: python:3.11-slim python3 /workspace/post_sample.py http://serve:{port}
  - id: push
    push: ["$Registry/{repo}:$ID"]
""", context=str(server))
    assert [s.status for s in run.steps] == ["succeeded"] * 4
    expected = json.loads((server / "sample.json").read_text())["expected"]
    [answer] = [json.loads(line.split(" ", 1)[1]) for line in run.log().splitlines() if line.startswith("[predict] {")]
    assert answer["label"] == expected
    assert "[serve] INFO:" in run.log()  # the served model's own log, from the detached container
    assert run.output_images[0].digest == registry_digest(repo, run.run_id)
    engine.images.remove(f"localhost:5000/{repo}:{run.run_id}", force=True)
