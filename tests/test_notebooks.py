"""The tutorials as saved: they are shared (GitHub, Binder), so their outputs carry no machine paths."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
# an absolute path of this machine or a user's: a home, a temp folder, a checkout
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:home|root|tmp|work|var/folders|Users|private)/[^\s\"'\\]+")


def _outputs(cell: dict):
    for out in cell.get("outputs", []):
        yield json.dumps(out)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_saved_outputs_hold_no_machine_paths(path):
    notebook = json.loads(path.read_text())
    found = [m.group(0) for cell in notebook["cells"] for text in _outputs(cell) for m in MACHINE_PATH.finditer(text)]
    found += [m.group(0) for m in MACHINE_PATH.finditer(json.dumps(notebook.get("metadata", {})))]
    # a path the tutorials write themselves (an image's /root/.cache/pip in a Dockerfile, in a cell or in the
    # model server's folder) is not the machine's
    shipped = [f.read_text() for f in (path.parent / "model-server").iterdir() if f.suffix in ("", ".py")]
    sources = "\n".join(["".join(cell["source"]) for cell in notebook["cells"]] + shipped)
    found = [path for path in found if path.rstrip(".,:;)]}") not in sources]
    assert found == [], f"{path.name} shows absolute paths of the machine it ran on"


def test_the_tutorials_are_found():
    assert len(NOTEBOOKS) >= 2
