"""The views in a real browser: JupyterLab started here on 127.0.0.1, driven by Playwright with Debian's
Chromium. Screenshots are kept under test-output/browser/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import requests

from acrmagic.runs.store import RunStore

pytestmark = pytest.mark.engine
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    notebooks, home = root / "nb", root / "acrmagic-home"
    notebooks.mkdir()
    port = free_port()
    config = root / "jupyter_server_config.py"
    config.write_text(
        f"c.ServerApp.ip = '127.0.0.1'\nc.ServerApp.port = {port}\nc.ServerApp.port_retries = 0\n"
        "c.ServerApp.open_browser = False\nc.IdentityProvider.token = ''\nc.ServerApp.password = ''\n"
        "c.ServerApp.disable_check_xsrf = True\nc.ServerApp.allow_root = True\n"
        f"c.ServerApp.root_dir = {str(notebooks)!r}\nc.LabApp.workspaces_dir = {str(root / 'ws')!r}\n"
        "c.LabApp.news_url = None\nc.LabApp.check_for_updates_class = 'jupyterlab.NeverCheckForUpdate'\n"
        "c.LabApp.expose_app_in_browser = True\n")
    env = {k: v for k, v in os.environ.items() if k != "ACRMAGIC_PROGRESS"}
    env.update(ACRMAGIC_HOME=str(home), JUPYTER_RUNTIME_DIR=str(root / "runtime"), JUPYTER_CONFIG_DIR=str(root / "cfg"))
    log = open(root / "lab.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--config", str(config)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/api/status", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            time.sleep(0.5)
    else:
        proc.terminate()
        raise RuntimeError("JupyterLab did not start: " + (root / "lab.log").read_text()[-2000:])
    yield url, notebooks, home
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


def write_notebook(folder: Path, name: str, *cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / name)
    return name


def open_and_run(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.goto(f"{url}/lab/tree/{name}?reset")  # only this notebook: no tabs restored from the last page
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.isEnabled('notebook:run-all-cells')",
                           timeout=60_000)
    started = page.locator(".jp-InputArea-prompt", has_text="[*]").or_(
        page.locator(".jp-InputArea-prompt", has_text="[1]"))
    for _ in range(3):  # a run request sent while the kernel connection settles can be dropped: ask again
        page.locator(".jp-Cell").first.click()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        try:
            started.first.wait_for(timeout=15_000)
            return page
        except Exception:
            continue
    shot(page, f"{name}-did-not-run")
    raise AssertionError(f"{name}: JupyterLab did not run the cells")


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


SLOW_BUILD = ("%%acrbuild --context . --no-cache\nFROM busybox\n"
              "RUN for i in 1 2 3 4 5 6; do echo tick-$i; sleep 1; done\n")


def test_build_view_streams_steps_and_log(lab, browser):
    url, notebooks, home = lab
    page = open_and_run(browser, url, write_notebook(notebooks, "build.ipynb", "%load_ext acrmagic", SLOW_BUILD))
    running = page.locator(".acrmagic-run .acr-step.acr-running pre.acr-log", has_text="tick-2")
    try:
        running.wait_for(timeout=90_000)  # the log streams while the cell still executes
    except Exception:
        shot(page, "build-running-FAILED")
        raise
    assert page.locator(".acrmagic-run .acr-status", has_text="Running").count() == 1
    shot(page, "build-running")
    page.locator(".acrmagic-run .acr-status", has_text="Succeeded").wait_for(timeout=90_000)
    assert page.locator(".acrmagic-run .acr-step", has_text="RUN for i in").count() == 1
    shot(page, "build-succeeded")
    page.close()


def test_cancel_button_cancels_the_running_build(lab, browser):
    url, notebooks, home = lab
    cell = SLOW_BUILD.replace("1 2 3 4 5 6", "$(seq 60)")
    page = open_and_run(browser, url, write_notebook(notebooks, "cancel.ipynb", "%load_ext acrmagic", cell))
    page.locator(".acrmagic-run pre.acr-log", has_text="tick-2").wait_for(timeout=90_000)
    page.locator(".acrmagic-run button.acr-cancel").click()
    page.locator(".acrmagic-run .acr-status", has_text="Canceled").wait_for(timeout=30_000)
    page.locator(".jp-OutputArea-output", has_text="RunCanceled").wait_for(timeout=30_000)
    shot(page, "build-canceled")
    page.close()
    latest = RunStore(home).list(top=1)[0]
    assert latest.status == "Canceled"


def test_history_row_opens_the_run_with_its_log(lab, browser):
    url, notebooks, home = lab
    page = open_and_run(browser, url, write_notebook(notebooks, "history.ipynb", "%load_ext acrmagic",
                                                     "%acr runs"))
    rows = page.locator(".acrmagic-history tbody tr")
    rows.first.wait_for(timeout=60_000)
    assert rows.count() == 2 and "Canceled" in rows.nth(0).inner_text() and "Succeeded" in rows.nth(1).inner_text()
    rows.nth(1).click()
    replay = page.locator(".acrmagic-run")
    replay.wait_for(timeout=30_000)
    replay.locator(".acr-step-line", has_text="RUN for i in").click()
    replay.locator("pre.acr-log", has_text="tick-6").wait_for(timeout=30_000)
    shot(page, "history-replay")
    page.close()
