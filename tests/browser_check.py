"""Run the lessons the way a student does: in JupyterLab, inside a real (headless) Chromium.

    make browser                                   # every lesson, in course order
    make browser LESSONS=00,01                     # only lessons whose name starts with 00 or 01
    .venv/bin/python tests/browser_check.py --lessons 00,99 [--timeout 1200] [--keep]

``make run`` and nbval execute the notebooks through a kernel client; this check goes through
the user interface instead, so it also sees what only the browser sees: outputs that do not
render, images that do not load, Hangul that has no font, warnings printed in red.

What it does
------------
1. Copies the lessons (``notebooks/*.ipynb``, sorted by name like ``helpers.course`` and
   ``make run``, because later lessons read what earlier ones wrote) into a temporary working
   folder. The repository's notebooks are never opened, so they can never be saved over;
   autosave is switched off as well.
2. Starts JupyterLab on 127.0.0.1 (a free port, a random token, no browser) with its own
   settings: ``windowingMode: "none"`` so every cell is in the DOM, no autosave, no news or
   update checks, and the application object exposed as ``window.jupyterapp``. The kernel
   gets ``KIT_HOME`` (the checkout: ``helpers`` finds ``data/`` there whatever the working
   folder), ``KIT_OUTPUTS`` (a fresh folder in the working folder, shared by the lessons of one
   run, so nothing lands in the repository's ``outputs/``) and ``HF_HUB_OFFLINE=1``;
   ``MPLBACKEND`` is removed so the kernel uses the inline backend a student gets.
3. For each lesson, in a fresh headless Chromium (1400x1000, Debian's ``/usr/bin/chromium``
   driven by ``/usr/bin/chromedriver``; Selenium Manager is never asked, so nothing is
   downloaded): opens the copy, waits for the kernel to be idle, clicks *Run > Run All Cells*,
   waits until no prompt shows ``[*]`` and the kernel is idle, then checks the notebook,
   saves a full-page screenshot and shuts the lesson's kernel down.

The checks
----------
A lesson passes when:

* its kernel started (the session reached the ``idle`` state) and did not die;
* every code cell with source ran (it has an execution count) within ``--timeout`` seconds;
* no cell has an error output. JupyterLab 4 gives an error output both an
  ``application/vnd.jupyter.error`` and an ``application/vnd.jupyter.stderr`` entry and renders
  it with the stderr renderer, so in the DOM a traceback is
  ``.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]``, the same
  selector as a ``print(..., file=sys.stderr)``. The check therefore reads each output's type
  from the notebook model (``window.jupyterapp``) and its text from the page;
* every *plot cell* shows at least one ``<img>`` in its output that the browser decoded
  (``complete`` with a non-zero ``naturalWidth``). A plot cell is a code cell whose source
  (comment lines ignored) calls ``save_figure(`` (``helpers.core.plots.save_figure``, which
  displays the saved PNG), any ``plot_*(`` function (``helpers.eda.plot_*``,
  ``helpers.metrics.plot_confusion``: they return matplotlib figures) or ``plt.show(``;
* no stderr output contains ``Traceback`` or ``Error``. Other stderr outputs (warnings,
  progress bars) are counted and reported, since the lessons are meant to be quiet, but do
  not fail the lesson;
* no JupyterLab dialog (kernel selection, kernel restart, error) is left open.

Cell numbers in messages are 1-based positions among all cells, as JupyterLab's status bar
counts them ("Cell 10/33"); ``[In n]`` is the execution count.

Results: ``outputs/browser/<lesson>.png`` (one full-page screenshot per lesson) and
``outputs/browser/report.json`` (per lesson: seconds, cells executed, plot cells, images,
errors, stderr outputs with their first lines, problems, pass/fail), rewritten after every
lesson. The console gets one line per lesson and a summary; the exit status is 1 when a lesson
failed. The working folder (copies, the lessons' outputs, the server log) is deleted at the end
unless ``--keep`` is given.

Needs the ``browser`` extra (``jupyterlab``, ``selenium``) and the Debian packages
``chromium``, ``chromium-driver`` and ``fonts-nanum`` (Hangul in the page); ``make browser``
installs them. This file is not a pytest module (its name does not start with ``test_``);
selenium and jupyterlab are imported inside functions so that ``pytest --doctest-modules``
can import it without them.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 1000)
#: Longest screenshot, in CSS pixels (beyond this the page is cut, and the report says so).
MAX_SHOT_HEIGHT = 60000

#: A call that draws: helpers' save_figure (shows the PNG it saved), any plot_* helper, plt.show.
PLOT_CALL = re.compile(r"(?<!def )\b(?:save_figure|plot_\w+|plt\.show)\s*\(")
STDERR_FATAL = ("Traceback", "Error")

#: JupyterLab user settings for the run (a temporary settings folder; the user's are untouched).
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


# --------------------------------------------------------------------------- results


@dataclass
class LessonResult:
    """What one lesson did in the browser; ``problems`` empty means it passed."""

    lesson: str
    passed: bool = False
    seconds: float = 0.0
    run_seconds: float = 0.0
    cells: int = 0
    code_cells: int = 0
    executed: int = 0
    kernel_started: bool = False
    plot_cells: list[int] = field(default_factory=list)
    images: int = 0
    errors: list[str] = field(default_factory=list)
    stderr: int = 0
    stderr_cells: list[int] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screenshot: str | None = None

    def line(self) -> str:
        """The console line for this lesson."""
        status = "ok  " if self.passed else "FAIL"
        plots = f"{len(self.plot_cells)} plot cells, {self.images} images"
        text = (f"{status} {self.seconds:5.0f} s  {self.executed:>2}/{self.code_cells:<2} cells ran"
                f"  {plots:<24} {self.stderr} stderr")
        if self.problems:
            more = len(self.problems) - 1
            text += f"  <- {self.problems[0]}" + (f" (+{more} more)" if more else "")
        return text


class Interrupted(Exception):
    """SIGTERM/SIGHUP arrived: unwind through the ``finally`` blocks like Ctrl-C does."""


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


# --------------------------------------------------------------------------- lessons


def find_lessons(folder: Path, prefixes: list[str] | None) -> list[Path]:
    """The notebooks of ``folder`` in name order (``helpers.course.lessons``'s order), only those
    starting with one of ``prefixes`` when given."""
    found = sorted(folder.glob("*.ipynb"))
    if prefixes:
        found = [p for p in found if any(p.name.startswith(x) for x in prefixes)]
    return found


def plot_cells(notebook: Path) -> list[int]:
    """1-based numbers of the code cells that should show a figure (rule in the module doc)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    found = []
    for number, cell in enumerate(cells, start=1):
        if cell["cell_type"] != "code":
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("#"))
        if PLOT_CALL.search(code):
            found.append(number)
    return found


# --------------------------------------------------------------------------- JupyterLab server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """JupyterLab in a subprocess, for one run: ``start()``, the REST calls used, ``stop()``."""

    def __init__(self, workdir: Path, root_dir: Path, outputs: Path) -> None:
        self.workdir = workdir
        self.root_dir = root_dir
        self.outputs = outputs
        self.port = free_port()
        self.token = secrets.token_hex(24)
        self.log_path = workdir / "jupyterlab.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        lab = self.workdir / "lab"
        for plugin, values in LAB_SETTINGS.items():
            path = lab / "user-settings" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2), encoding="utf-8")
        env = dict(os.environ)
        env.pop("MPLBACKEND", None)  # the kernel picks the inline backend, as in a student's JupyterLab
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(lab / "user-settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(lab / "workspaces"),
            JUPYTER_CONFIG_DIR=str(self.workdir / "jupyter-config"),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "jupyter-runtime"),
            KIT_HOME=str(ROOT),
            KIT_OUTPUTS=str(self.outputs),
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
            TOKENIZERS_PARALLELISM="false",
        )
        return env

    def start(self, timeout: float = 180.0) -> None:
        """Start the server and wait until its REST API answers."""
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        log = self.log_path.open("wb")
        # Own session: a Ctrl-C in the terminal reaches this script, which then stops the server.
        self.proc = subprocess.Popen(cmd, cwd=self.root_dir, env=self._environment(), stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def api(self, method: str, path: str, timeout: float = 30.0) -> Any:
        """One REST call with the token; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(self.url + path, method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """End every session (and so its kernel): each lesson gets a fresh kernel, like make run."""
        try:
            for session in self.api("GET", "/api/sessions") or []:
                self.api("DELETE", f"/api/sessions/{session['id']}", timeout=60)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Shut the server and its kernels down: politely first, then by process id."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        children: list[Any] = []
        try:
            import psutil  # a dependency of the kernel; lists the kernels this server started

            children = psutil.Process(proc.pid).children(recursive=True)
        except Exception:
            pass
        try:
            self.api("POST", "/api/shutdown", timeout=10)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        for signal_to_send in (None, signal.SIGTERM, signal.SIGKILL):
            if signal_to_send is not None:
                proc.send_signal(signal_to_send)
            try:
                proc.wait(timeout=15)
                break
            except subprocess.TimeoutExpired:
                continue
        for child in children:  # kernels left behind by a server that had to be killed
            try:
                if child.is_running():
                    child.kill()
            except Exception:
                pass


# --------------------------------------------------------------------------- browser

#: The notebook panel the browser shows, or null while JupyterLab is still loading.
JS_PANEL = """
const app = window.jupyterapp;
if (!app || !app.shell) return null;
const panel = Array.from(app.shell.widgets('main')).find(
  w => w.content && w.sessionContext && w.context && w.context.path === arguments[0]);
if (!panel || !panel.context.isReady) return null;
"""

JS_KERNEL = JS_PANEL + """
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const indicator = panel.node.querySelector('.jp-Notebook-ExecutionIndicator');
const running = [];
panel.content.widgets.forEach((cell, i) => {
  const prompt = cell.node.querySelector('.jp-InputArea-prompt');
  if (cell.model.type === 'code' && prompt && prompt.textContent.includes('*')) running.push(i + 1);
});
const executed = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.executionCount !== null).length;
return {
  cells: panel.content.widgets.length,
  kernel: kernel ? kernel.status : null,
  connection: kernel ? kernel.connectionStatus : null,
  name: panel.sessionContext.kernelDisplayName,
  indicator: indicator ? indicator.dataset.status : null,
  running: running,
  executed: executed,
  dialog: Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim().slice(0, 300)),
};
"""

JS_CELLS = JS_PANEL + """
return panel.content.widgets.map((cell, i) => {
  const info = {number: i + 1, type: cell.model.type, count: null, source: '', outputs: [],
                images: 0, broken_images: 0};
  if (cell.model.type !== 'code') return info;
  info.count = cell.model.executionCount;
  info.source = cell.model.sharedModel.getSource();
  const children = cell.node.querySelectorAll('.jp-OutputArea-child');
  for (let k = 0; k < cell.model.outputs.length; k++) {
    const model = cell.model.outputs.get(k).toJSON();
    const node = children[k] ? children[k].querySelector('.jp-OutputArea-output') : null;
    info.outputs.push({
      type: model.output_type, name: model.name || null, ename: model.ename || null, evalue: model.evalue || null,
      mime: node ? node.dataset.mimeType || null : null,
      text: (node ? node.innerText : String(model.text || '')).slice(0, 4000),
    });
  }
  for (const img of cell.node.querySelectorAll('.jp-OutputArea-output img')) {
    if (img.complete && img.naturalWidth > 0) info.images += 1; else info.broken_images += 1;
  }
  return info;
});
"""

#: Height of the page with the whole notebook unrolled (the notebook scrolls inside the app shell).
#: Also scrolls the notebook back to its top, where the screenshot starts.
JS_FULL_HEIGHT = JS_PANEL + """
const outer = panel.node.querySelector('.jp-WindowedPanel-outer') || panel.content.node;
outer.scrollTop = 0;
const cells = panel.content.widgets;
const last = cells.length ? cells[cells.length - 1].node : outer;
const content = last.getBoundingClientRect().bottom - outer.getBoundingClientRect().top;
return Math.ceil(window.innerHeight - outer.clientHeight + content + 24);
"""


def new_browser(profile: Path) -> Any:
    """Headless Chromium through Debian's chromedriver (Selenium Manager is never consulted)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # belt and braces: Selenium Manager, if ever asked, stays offline
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", f"--window-size={WINDOW[0]},{WINDOW[1]}", "--force-device-scale-factor=1",
        "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
        "--disable-features=Translate,MediaRouter,OptimizationHints", "--disable-breakpad", "--lang=en-US",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    # Chromium's crash-report and cache folders go under the profile, not the user's home.
    env = dict(os.environ, XDG_CONFIG_HOME=str(profile / "xdg-config"), XDG_CACHE_HOME=str(profile / "xdg-cache"))
    # Own session for chromedriver: a Ctrl-C must not kill it before driver.quit() closes Chromium.
    service = Service(str(CHROMEDRIVER), log_output=subprocess.DEVNULL, env=env,
                      popen_kw={"start_new_session": True})
    return webdriver.Chrome(service=service, options=options)


def wait_for(predicate: Any, timeout: float, interval: float = 0.5) -> Any:
    """Call ``predicate`` until it returns something truthy (returned) or ``timeout`` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def click_menu(driver: Any, menu: str, command: str) -> None:
    """Open ``menu`` in the menu bar and click the item bound to ``command``, as a user does."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 30)
    label = wait.until(ec.element_to_be_clickable(
        (By.XPATH, f"//li[contains(@class,'lm-MenuBar-item')][.//div[normalize-space(text())='{menu}']]")))
    label.click()
    item = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"li.lm-Menu-item[data-command='{command}']")))
    item.click()


def collapse_left_sidebar(driver: Any) -> None:
    """Click the open tab of the left sidebar (the file browser) so the notebook gets the width."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        for tab in driver.find_elements(By.CSS_SELECTOR, ".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current"):
            tab.click()
    except WebDriverException:
        pass  # cosmetic only


def full_page_screenshot(driver: Any, name: str, path: Path) -> str | None:
    """Save the whole notebook as one PNG: the viewport is made as tall as the unrolled notebook.
    Returns a problem note when the page had to be cut at ``MAX_SHOT_HEIGHT``."""
    height = int(driver.execute_script(JS_FULL_HEIGHT, name) or WINDOW[1])
    note = None
    if height > MAX_SHOT_HEIGHT:
        note = f"screenshot cut at {MAX_SHOT_HEIGHT} px of {height}"
        height = MAX_SHOT_HEIGHT
    height = max(height, WINDOW[1])
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WINDOW[0], "height": height, "deviceScaleFactor": 1, "mobile": False})
    try:
        time.sleep(1.5)  # Lumino lays the panels out again on resize
        driver.execute_script(JS_FULL_HEIGHT, name)  # back to the top after the new layout
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
        path.write_bytes(base64.b64decode(shot["data"]))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return note


# --------------------------------------------------------------------------- one lesson


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def check_cells(result: LessonResult, cells: list[dict[str, Any]], plots: list[int], finished: bool) -> None:
    """Fill ``result`` from the cells the browser shows (see the module doc for the rules);
    ``finished``: Run All ran to its end (else cells that did not run are not reported again)."""
    result.cells = len(cells)
    code = [c for c in cells if c["type"] == "code"]
    result.code_cells = sum(1 for c in code if c["source"].strip())
    result.executed = sum(1 for c in code if c["count"] is not None)
    for cell in code:
        where = f"cell {cell['number']}" + (f" [In {cell['count']}]" if cell["count"] is not None else "")
        for out in cell["outputs"]:
            if out["type"] == "error":
                message = _one_line(f"{where}: {out['ename']}: {out['evalue']}".rstrip(": "), 300)
                result.errors.append(message)
                result.problems.append(f"error in {message}")
            elif out["type"] == "stream" and out["name"] == "stderr":
                result.stderr += 1
                if cell["number"] not in result.stderr_cells:
                    result.stderr_cells.append(cell["number"])
                first_line = next((line.strip() for line in out["text"].splitlines() if line.strip()), "")
                result.stderr_lines.append(f"cell {cell['number']}: {first_line[:200]}")
                fatal = [w for w in STDERR_FATAL if w in out["text"]]
                if fatal:
                    first = next(line for line in out["text"].splitlines() if fatal[0] in line).strip()
                    result.problems.append(f"{where}: stderr mentions {fatal[0]!r}: {first[:160]}")
        if cell["broken_images"]:
            result.problems.append(f"{where}: {cell['broken_images']} image(s) did not load")
        result.images += cell["images"]
    by_number = {c["number"]: c for c in cells}
    for number in plots:
        cell = by_number.get(number)
        if cell is not None and cell["count"] is not None and cell["images"] == 0:
            result.problems.append(f"cell {number} [In {cell['count']}]: plot cell shows no image")
    if finished and not result.errors:
        for cell in code:
            if cell["source"].strip() and cell["count"] is None:
                result.problems.append(f"cell {cell['number']}: did not run")
                break


def run_lesson(server: LabServer, copy: Path, out_dir: Path, timeout: float, profile: Path) -> LessonResult:
    """Open one lesson copy in a fresh browser, run all cells through the menu, check, screenshot."""
    from selenium.common.exceptions import WebDriverException

    result = LessonResult(lesson=copy.stem, plot_cells=plot_cells(copy))
    start = time.monotonic()
    driver = None
    name = f"notebooks/{copy.name}"
    try:
        driver = new_browser(profile)
        driver.get(f"{server.url}/lab/tree/{name}?reset&token={server.token}")
        state = wait_for(lambda: driver.execute_script(JS_KERNEL, name), 180)
        if not state:
            result.problems.append("JupyterLab did not open the notebook within 180 s")
            return result
        collapse_left_sidebar(driver)
        state = wait_for(lambda: (s := driver.execute_script(JS_KERNEL, name)) and s["kernel"] == "idle"
                         and s["connection"] == "connected" and s, 300)
        if not state:
            last = driver.execute_script(JS_KERNEL, name) or {}
            dialog = f"; dialog: {last['dialog'][0]!r}" if last.get("dialog") else ""
            result.problems.append(f"the kernel did not start (status {last.get('kernel')}, "
                                   f"kernel {last.get('name')!r}){dialog}")
            return result
        result.kernel_started = True

        click_menu(driver, "Run", "runmenu:run-all")
        run_start = time.monotonic()
        settled = 0
        finished = False
        while True:
            state = driver.execute_script(JS_KERNEL, name)
            cell = f" while running cell {state['running'][0]}" if state["running"] else ""
            if state["kernel"] in ("dead", "restarting", "autorestarting", "terminating"):
                result.problems.append(f"the kernel died (status {state['kernel']}){cell}")
                break
            if state["dialog"]:  # e.g. "Kernel Restarting: the kernel ... appears to have died"
                result.problems.append(f"JupyterLab opened a dialog{cell}: {_one_line(state['dialog'][0])}")
                break
            started = state["executed"] > 0 or state["running"]
            done = (started and not state["running"] and state["kernel"] == "idle"
                    and state["indicator"] in ("idle", None))
            settled = settled + 1 if done else 0
            if settled >= 2:
                finished = True
                break
            if not started and time.monotonic() - run_start > 60:
                result.problems.append("Run > Run All Cells started nothing within 60 s")
                break
            if time.monotonic() - run_start > timeout:
                result.problems.append(f"timed out after {timeout:.0f} s{cell}")
                break
            time.sleep(1.0)
        result.run_seconds = round(time.monotonic() - run_start, 1)

        check_cells(result, driver.execute_script(JS_CELLS, name), result.plot_cells, finished)
        dialogs = driver.execute_script(JS_KERNEL, name)["dialog"]
        if dialogs and finished:
            result.problems.append(f"a dialog is open: {_one_line(dialogs[0])}")
        shot = out_dir / f"{copy.stem}.png"
        note = full_page_screenshot(driver, name, shot)
        result.screenshot = str(shot)
        if note:
            result.problems.append(note)
    except WebDriverException as err:
        result.problems.append(f"browser error: {str(err.msg or err).splitlines()[0][:200]}")
    finally:
        server.shutdown_kernels()
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        result.seconds = round(time.monotonic() - start, 1)
        result.passed = result.kernel_started and not result.problems
    return result


# --------------------------------------------------------------------------- the run


def preflight() -> None:
    """Fail early, with the fix, when the browser or the extra is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: apt-get install chromium chromium-driver fonts-nanum "
                         "(or run `make browser`)")
    import importlib.util

    for module in ("jupyterlab", "selenium"):
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"{module} is not installed: pip install -c constraints.txt -e '.[browser]' "
                             "(or run `make browser`)")


def versions() -> dict[str, str]:
    """Versions of the pieces under test, for the report."""
    import importlib.metadata as md

    found = {name: md.version(name) for name in ("jupyterlab", "selenium")}
    try:
        found["chromium"] = subprocess.run([str(CHROMEDRIVER), "--version"], capture_output=True, text=True,
                                           timeout=30).stdout.split()[1]
    except (OSError, IndexError, subprocess.SubprocessError):
        found["chromium"] = "?"
    return found


def write_report(path: Path, started: float, results: list[LessonResult], info: dict[str, str]) -> None:
    report = {
        "seconds": round(time.monotonic() - started, 1),
        "passed": bool(results) and all(r.passed for r in results),
        "versions": info,
        "lessons": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def run(lessons: list[Path], out_dir: Path, timeout: float, keep: bool) -> int:
    """Check ``lessons`` in order; one line each, a summary, 1 if any failed (else 0)."""
    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="kit-browser-"))
    copies = workdir / "notebooks"
    copies.mkdir()
    for lesson in lessons:
        shutil.copy2(lesson, copies / lesson.name)
        (copies / lesson.name).chmod(0o644)
    server = LabServer(workdir, root_dir=workdir, outputs=workdir / "outputs")
    results: list[LessonResult] = []
    info = versions()
    report = out_dir / "report.json"
    try:
        server.start()
        for index, lesson in enumerate(lessons):
            print(f"{lesson.stem:<36} ", end="", flush=True)  # the rest of the line when the lesson is done
            result = run_lesson(server, copies / lesson.name, out_dir, timeout, workdir / f"chrome-{index}")
            results.append(result)
            print(result.line(), flush=True)
            if not result.passed:
                for problem in result.problems[1:]:
                    print(f"     {result.lesson}: {problem}")
            write_report(report, started, results, info)
    finally:
        server.stop()
        if keep:
            print(f"working folder kept: {workdir} (lesson outputs in {workdir / 'outputs'}, "
                  f"server log {server.log_path.name})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = [r for r in results if not r.passed]
    total = time.monotonic() - started
    where = out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir
    if failed:
        print(f"browser check FAILED: {len(failed)} of {len(results)} lesson(s) "
              f"({', '.join(r.lesson for r in failed)}) in {total:.0f} s; screenshots and report.json in {where}")
        return 1
    print(f"browser check passed: {len(results)} lesson(s) in {total:.0f} s; screenshots and report.json in {where}")
    return 0


def default_out_dir() -> Path:
    """``outputs/browser`` (``KIT_OUTPUTS`` moves ``outputs/`` as it does for the lessons)."""
    return Path(os.environ.get("KIT_OUTPUTS") or ROOT / "outputs") / "browser"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/browser_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--lessons", default="", help="comma-separated name prefixes, e.g. 00,01 (default: all)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per lesson for Run All (default 1200)")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of the lessons (default: notebooks/)")
    parser.add_argument("--out", type=Path, default=None, help="screenshots and report.json (default: outputs/browser)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary working folder (copies, outputs, log)")
    args = parser.parse_args(argv)

    prefixes = [p.strip() for p in args.lessons.split(",") if p.strip()] or None
    lessons = find_lessons(args.notebooks.resolve(), prefixes)
    if not lessons:
        print(f"no lessons match {args.lessons!r} in {args.notebooks}", file=sys.stderr)
        return 2
    preflight()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    try:
        return run(lessons, (args.out or default_out_dir()).resolve(), args.timeout, args.keep)
    except RuntimeError as err:  # JupyterLab did not start
        print(f"browser check could not run: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Interrupted) as stop:
        print(f"\nbrowser check interrupted ({type(stop).__name__}); JupyterLab and its kernels were shut down",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
