"""The views in a real browser: JupyterLab started here on 127.0.0.1, driven by Playwright with Debian's
Chromium. Screenshots are kept under test-output/browser/."""

from __future__ import annotations

import os
import re
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
    # no "news" toast over the screenshots
    (root / "cfg" / "labconfig").mkdir(parents=True)
    (root / "cfg" / "labconfig" / "page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
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


def open_and_run(browser, url: str, name: str, height: int = 1000):
    page = browser.new_page(viewport={"width": 1300, "height": height})
    page.goto(f"{url}/lab/tree/{name}?reset")  # only this notebook: no tabs restored from the last page
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)
    page.wait_for_function("window.jupyterapp && window.jupyterapp.commands.isEnabled('notebook:run-all-cells')",
                           timeout=60_000)
    # every cell queued or run: the last cell's prompt shows [*] or its number (a run-all whose request
    # was partly dropped leaves it at [ ])
    started = page.locator(".jp-Cell").last.locator(".jp-InputArea-prompt", has_text=re.compile(r"\[(\*|\d+)\]"))
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


# -- the views in JupyterLab's light and dark themes ---------------------------------------------------------------
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
THEME_FAMILIES = ("--jp-layout-color", "--jp-content-font-color", "--jp-success-color", "--jp-error-color",
                  "--jp-border-color")
# Every colour an element of the views paints with (text, background, borders), checked against the values
# of the theme's variables; and every piece of text's contrast against what is behind it (alpha composed).
CHECK_COLOURS = """([selector, families]) => {
  const probe = document.createElement('span');
  document.body.appendChild(probe);
  const allowed = new Set();
  for (const family of families) for (let i = 0; i <= 4; i++) {
    probe.style.color = '';
    probe.style.color = `var(${family}${i})`;
    const value = getComputedStyle(document.body).getPropertyValue(`${family}${i}`).trim();
    if (value) allowed.add(getComputedStyle(probe).color);
  }
  probe.remove();
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return m.length === 3 ? [...m, 1] : m; };
  const over = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3])).concat(1);
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const page = parse(getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor);
  const behind = (el) => {  // the colour under el's text: its own and its ancestors' backgrounds, composed
    const layers = [];
    for (let e = el; e && e !== document.documentElement; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] === 1) break;
    }
    return layers.reverse().reduce((acc, layer) => over(layer, acc), page[3] === 1 ? page : [255, 255, 255, 1]);
  };
  const foreign = [], low = [];
  let texts = 0;
  for (const root of document.querySelectorAll(selector)) for (const el of [root, ...root.querySelectorAll('*')]) {
    const style = getComputedStyle(el);
    const used = [['color', style.color], ['background', style.backgroundColor]];
    for (const side of ['Top', 'Right', 'Bottom', 'Left'])
      if (parseFloat(style[`border${side}Width`]) > 0 && style[`border${side}Style`] !== 'none')
        used.push([`border-${side.toLowerCase()}`, style[`border${side}Color`]]);
    for (const [what, colour] of used)
      if (parse(colour)[3] > 0 && !allowed.has(colour))
        foreign.push(`${el.tagName.toLowerCase()}.${el.className} ${what} ${colour}`);
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || el.offsetParent === null) continue;
    texts++;
    const bg = behind(el);
    const r = ratio(over(parse(style.color), bg), bg);
    if (r < 4.5) low.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${r.toFixed(2)}:1`);
  }
  return { allowed: allowed.size, foreign, low, texts };
}"""

THEME_TASK = ("%%acrtask\nversion: v1.1.0\nsteps:\n"
              "  - id: predict\n    cmd: busybox sh -c 'echo loading model; echo prediction=setosa'\n"
              "  - id: check\n    cmd: busybox sh -c 'echo checking; echo error, expected versicolor; exit 3'\n")


def set_theme(page, theme: str) -> None:
    page.evaluate("(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", THEMES[theme])
    page.wait_for_function("(t) => document.body.dataset.jpThemeName === t", arg=THEMES[theme], timeout=30_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applied


def check_theme_colours(page, selector: str, theme: str) -> None:
    found = page.evaluate(CHECK_COLOURS, [selector, list(THEME_FAMILIES)])
    assert found["allowed"] >= 15, found  # the variables resolved: this is a JupyterLab theme
    assert found["texts"] >= 5, found  # there was text to measure
    assert not found["foreign"], f"{theme}: colours not from the theme: {found['foreign'][:10]}"
    assert not found["low"], f"{theme}: text below 4.5:1: {found['low'][:10]}"


THEME_BUILD = ("%%acrbuild -t acrmagic-browser-theme:{{.Run.ID}} --context . --no-cache\nFROM busybox\n"
               "RUN echo model ready > /model.txt\nCMD [\"cat\", \"/model.txt\"]\n")


def test_run_view_in_light_and_dark_themes(lab, browser, engine):
    url, notebooks, home = lab
    page = open_and_run(browser, url, write_notebook(notebooks, "themes.ipynb", "%load_ext acrmagic", THEME_BUILD,
                                                     THEME_TASK), height=1300)
    try:
        built, failed = page.locator(".acrmagic-run").nth(0), page.locator(".acrmagic-run").nth(1)
        try:
            failed.locator(".acr-status", has_text="Failed").wait_for(timeout=240_000)  # a loaded machine: slow
        except Exception:
            shot(page, "run-view-FAILED")
            raise
        page.locator(".jp-OutputArea-output", has_text="RunFailed").wait_for(timeout=30_000)
        # the build: rows in Dockerfile order, then the push as a step with its digest; no Run echo under it
        names = built.locator(".acr-step-name").all_inner_texts()
        instructions = [n for n in names if re.match(r"\[\d+/\d+\]", n)]
        assert [int(n[1:].split("/")[0]) for n in instructions] == list(range(1, len(instructions) + 1))
        assert instructions[0].split("] ")[1] == "FROM docker.io/library/busybox"
        assert instructions[-1].split("] ")[1] == "RUN echo model ready > /model.txt"
        assert names[-1].startswith("push localhost:5000/acrmagic-browser-theme:")
        assert built.locator(".acr-step").last.locator(".acr-last").inner_text().startswith("→ sha256:")
        outputs = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output")
        assert outputs.count() == 1  # the view only: the Run the cell returned is not shown again
        # the task: a cmd step's last line on its row
        assert failed.locator(".acr-step", has_text="predict").locator(".acr-last").inner_text() == "→ prediction=setosa"
        for theme in THEMES:
            set_theme(page, theme)
            shot(page, f"run-view-{theme}")
            check_theme_colours(page, ".acrmagic-run", theme)
        set_theme(page, "light")
    finally:
        page.close()
        for run in RunStore(home).list(top=10):
            for image in run.output_images:
                if image.repository == "acrmagic-browser-theme":
                    engine.images.remove(f"{image.registry}/{image.repository}:{image.tag}", force=True)


def test_history_in_light_and_dark_themes(lab, browser):
    url, notebooks, home = lab
    page = open_and_run(browser, url, write_notebook(notebooks, "themes-history.ipynb", "%load_ext acrmagic",
                                                     "%acr runs"))
    rows = page.locator(".acrmagic-history tbody tr.acr-row")
    rows.first.wait_for(timeout=60_000)
    assert rows.first.locator(".acr-col-target").inner_text() == "local"
    pushed = page.locator(".acrmagic-history tbody tr.acr-row", has_text="acrmagic-browser-theme")
    assert re.fullmatch(r"acrmagic-browser-theme:la\d+@[0-9a-f]{12}", pushed.locator(".acr-image").inner_text()
                        .removesuffix("copy").strip())
    # the table fits a notebook beside the file browser: nothing to scroll sideways
    widths = page.evaluate("() => { const e = document.querySelector('.acrmagic-history');"
                           " return [e.scrollWidth, e.clientWidth,"
                           " [...e.querySelectorAll('thead th')].map((th) => th.offsetWidth)]; }")
    assert widths[0] <= widths[1], widths
    pushed.locator("button.acr-copy").click()
    pushed.locator("button.acr-copy", has_text="copied").wait_for(timeout=10_000)
    rows.first.click()
    page.locator(".acrmagic-history tbody tr.acr-selected").wait_for(timeout=30_000)
    page.locator(".acrmagic-run .acr-status", has_text="Failed").wait_for(timeout=30_000)
    for theme in THEMES:
        set_theme(page, theme)
        shot(page, f"history-{theme}")
        check_theme_colours(page, ".acrmagic-history, .acrmagic-run", theme)
    page.locator(".acrmagic-history .acr-text-filter").fill("no-such-run")
    page.locator(".acrmagic-history tbody td", has_text="no runs match").wait_for(timeout=30_000)
    shot(page, "history-no-match-dark")
    set_theme(page, "light")
    page.close()
