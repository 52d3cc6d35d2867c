"""Finding base images in a Dockerfile."""

from acrmagic.dockerfile import base_images, normalize_image


def test_base_images_skip_stages_and_scratch_and_expand_args():
    text = """
    # syntax comment
    ARG PY=3.11
    FROM --platform=linux/amd64 python:${PY}-slim AS build
    RUN echo \\
        continued
    FROM build AS test
    FROM scratch
    FROM localhost:5000/tools/base:2 AS tools
    FROM ${MISSING:-busybox}
    COPY --from=build /x /x
    """
    assert base_images(text) == ["docker.io/library/python:3.11-slim", "localhost:5000/tools/base:2",
                                 "docker.io/library/busybox:latest"]
    assert base_images(text, {"PY": "3.12"})[0] == "docker.io/library/python:3.12-slim"


def test_normalize():
    assert normalize_image("busybox") == "docker.io/library/busybox:latest"
    assert normalize_image("org/app:1") == "docker.io/org/app:1"
    assert normalize_image("localhost:5000/app") == "localhost:5000/app:latest"
    assert normalize_image("reg.azurecr.io/a/b@sha256:ab") == "reg.azurecr.io/a/b@sha256:ab"


def test_a_buildkit_vertex_is_found_at_its_line_in_the_dockerfile():
    from acrmagic.dockerfile import instruction_line, instructions

    text = ("# comment\nFROM python:3.11-slim AS base\nWORKDIR /app\n\nCOPY requirements.txt .\n"
            "RUN --mount=type=cache,target=/root/.cache/pip \\\n    pip install -r requirements.txt\n"
            "COPY serve.py ./\n")
    assert [n for n, _ in instructions(text)] == [2, 3, 5, 6, 8]
    assert instruction_line(text, "[base 4/5] RUN --mount=type=cache,target=/root/.cache/pip pip install -r "
                                  "requirements.txt")[0] == 6
    assert instruction_line(text, "[5/5] COPY serve.py ./") == (8, "COPY serve.py ./")
    assert instruction_line(text, "[internal] load metadata for docker.io/library/python:3.11-slim") is None
    assert instruction_line(text, "[2/5] RUN something else") is None
