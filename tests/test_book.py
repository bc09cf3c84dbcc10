"""The book: notebook sources, the papermill driver, and the smoke book in a real browser.

The browser tests (marker ``browser``) build the smoke book with ``python -m dca.book build
--profile smoke`` (which re-executes nothing when nothing changed) and open every page in Debian's
headless ``chromium`` over a local http.server, talking to it through the DevTools protocol on a
pipe (``--remote-debugging-pipe``, no extra Python package). Every page must load with no console
error, no failed request and no request leaving 127.0.0.1; its figures must be ``<img>`` elements
that decoded; its math must be typeset by the local MathJax. Screenshots of every page go to
``$DCA_SCREENSHOTS`` if set. Without chromium the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from dca import book
from dca.book import NOTEBOOKS, Notebook
from dca.config import ConfigError

ROOT = book.ROOT
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------------------------
# Sources: toc, pairing, parameters, profiles


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [ch["file"] for ch in part["chapters"]]
    return files


def test_toc_has_every_notebook_in_order_and_every_chapter():
    files = _toc_files()
    executed = [f for f in files if f.startswith("book/_executed/")]
    assert executed == [f"book/_executed/{nb.name}" for nb in NOTEBOOKS]
    chapters = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.md")}
    assert chapters == set(files) - set(executed), "every book/*.md is in the toc, and only those"


def test_config_serves_mathjax_locally_and_builds_no_code():
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert cfg["execute"]["execute_notebooks"] == "off"
    assert cfg["only_build_toc_files"] is True
    sphinx = cfg["sphinx"]["config"]
    assert not re.match(r"^(https?:)?//", sphinx["mathjax_path"])
    assert "book/_static" in sphinx["html_static_path"]
    assert {"sphinx_exercise", "sphinxcontrib.bibtex"} <= set(cfg["sphinx"]["extra_extensions"])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_notebook_is_paired_and_in_sync(nb):
    import jupytext
    import nbformat

    ipynb = nb.source.with_suffix(".ipynb")
    assert nb.source.exists() and ipynb.exists(), f"run `jupytext --sync {nb.source.relative_to(ROOT)}`"
    text = jupytext.read(nb.source)
    paired = nbformat.read(ipynb, as_version=4)
    assert [(c.cell_type, c.source) for c in text.cells] == [(c.cell_type, c.source) for c in paired.cells], (
        f"{ipynb.name} is out of sync with {nb.source.name}: run `jupytext --sync {nb.source.relative_to(ROOT)}`"
    )
    assert all(not c.get("outputs") for c in paired.cells), f"{ipynb.name} must be committed without outputs"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda nb: nb.name)
def test_parameters_cell_names_are_the_stage_config_fields(nb):
    cls = book.config_class(nb)
    if cls is None:
        pytest.skip(f"no StageConfig with stage {nb.stage!r} yet ({nb.module})")
    names = book.notebook_parameter_names(nb.source)
    assert names == cls.field_names(), (
        f"{nb.name}: the parameters cell must hold exactly the fields of {cls.__name__}; "
        f"`python -m dca.book parameters {nb.name[:2]}` prints it"
    )
    # papermill skips a parameter line holding a second "=" (and warns "Unable to parse"): none in the help
    assert not [f.name for f in dataclasses.fields(cls) if "=" in f.metadata.get("help", "")]
    # and their defaults and help, so that a reader who opens the notebook runs the documented defaults
    assert book.parameters_source(nb.source).strip() == book.parameters_cell(cls), (
        f"{nb.name}: the parameters cell is out of date; `python -m dca.book parameters {nb.name[:2]}` prints it"
    )


@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
def test_profiles_give_every_notebook_the_parameters_the_cli_runs(profile):
    """A notebook executed under a profile runs its stage with the parameters `python -m dca run
    profile=NAME` gives that stage: the book and the command line read a profile the same way."""
    from dca import cli

    stages = cli.stage_parameters(list(cli.STAGES), {"profile": profile})
    for nb in NOTEBOOKS:
        params = book.notebook_parameters(nb, profile)
        if nb.stage in cli.STAGES:
            assert params.get("run_dir"), f"{profile}/{nb.name}: every stage has a run_dir"
            ran = cli.stage_config(nb.stage).from_dict(stages[nb.stage]).to_dict()
            assert params == ran, f"{profile}/{nb.name}: the notebook's parameters differ from what `dca run` runs"


@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
def test_profiles_state_only_what_differs_from_the_defaults(profile):
    from dca.config import load_profile

    data = load_profile(profile)
    for nb in NOTEBOOKS:
        cls = book.config_class(nb)
        defaults, section = cls().to_dict(), data.get(nb.stage, {})
        stated = cls.from_dict(section).to_dict()
        for key, value in section.items():
            assert stated[key] != defaults[key], f"profiles/{profile}.yaml: {nb.stage}.{key}: {value!r} is the default"
    stages = [book.config_class(nb)() for nb in NOTEBOOKS]
    for key, value in data.get("common", {}).items():
        having = [c for c in stages if key in c.field_names()]
        assert having, f"profiles/{profile}.yaml: common.{key} is no stage's parameter"
        assert any(type(c).from_dict({key: value}).to_dict()[key] != getattr(c, key) for c in having), (
            f"profiles/{profile}.yaml: common.{key}: {value!r} is the default")


def test_profiles_exist():
    names = {p.stem for p in (ROOT / "profiles").glob("*.yaml")}
    assert {"default", "smoke", "reference", "paper"} <= names


def test_unknown_profile_key_fails_naming_it(tmp_path):
    profile = tmp_path / "typo.yaml"
    profile.write_text("common:\n  run_dir: runs/x\n  not_a_field_anywhere: 1\nmetrics:\n  n_bot: 10\n")
    nb = next(nb for nb in NOTEBOOKS if nb.stage == "metrics")
    with pytest.raises(ConfigError, match=r"'n_bot'.*metrics.*04_metrics.*valid: run_dir"):
        book.notebook_parameters(nb, profile)
    assert book.main(["build", "--profile", str(profile), "--no-html"]) == 1  # the CLI says so and exits 1


def test_common_keys_go_only_to_stages_that_have_them(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text("common:\n  run_dir: runs/p\n  no_stage_has_this: 3\n  n_boot: 7\n")
    nb = next(nb for nb in NOTEBOOKS if nb.stage == "metrics")
    params = book.notebook_parameters(nb, profile)
    assert params["run_dir"] == "runs/p" and params["n_boot"] == 7
    assert "no_stage_has_this" not in params


# --------------------------------------------------------------------------------------------
# The driver, on throwaway notebooks: skip when unchanged, cascade, keep failures

HEADER = "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n"


def _tiny_notebook(path: Path, body: str) -> None:
    path.write_text(
        HEADER
        + '\n# %% [markdown]\n# # Tiny\n\n# %% tags=["parameters"]\nrun_dir = "x"\nn_boot = 1\nseed = 0\n\n'
        + "# %%\n" + body + "\n"
    )


@pytest.fixture
def tiny(tmp_path):
    src, out, run = tmp_path / "src", tmp_path / "out", tmp_path / "run"
    src.mkdir()
    _tiny_notebook(src / "a.py", "import pathlib\npathlib.Path(run_dir).mkdir(exist_ok=True)\n"
                   "(pathlib.Path(run_dir) / 'a.txt').write_text(str(n_boot))")
    _tiny_notebook(src / "b.py", "import pathlib\nprint((pathlib.Path(run_dir) / 'a.txt').read_text())")
    nbs = [Notebook(n, "dca.evaluate.bootstrap:MetricsChapterConfig", source_dir=src, executed_dir=out) for n in ("a", "b")]
    profile = tmp_path / "tiny.yaml"
    profile.write_text(f"common:\n  run_dir: {run}\nmetrics:\n  n_boot: 5\n")
    return nbs, profile, run


def _what(report):
    return [what for _, what, _ in report]


def test_driver_skips_unchanged_and_cascades_changes(tiny):
    import nbformat

    nbs, profile, run = tiny
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["executed", "executed"]
    executed = nbformat.read(nbs[1].executed, as_version=4)
    assert executed.metadata["dca_book"]["status"] == "ok"
    assert executed.metadata["dca_book"]["parameters"]["n_boot"] == 5
    assert "5" in json.dumps(executed.cells[-1].outputs)  # b read what a wrote, with the profile's value
    assert "outputs" not in nbs[0].source.read_text(), "the source stays clean"

    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["up to date", "up to date"]

    nbs[0].source.write_text(nbs[0].source.read_text() + "\n# %%\nprint('changed')\n")
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["executed", "executed"], "a change cascades"

    shutil.rmtree(run)  # the run folder is gone: the notebooks must run again
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["executed", "executed"]

    assert _what(book.execute_all(str(profile), only=["b"], notebooks=nbs)) == ["up to date"]


def test_driver_cascades_past_a_notebook_left_out(tiny, tmp_path):
    """--only a c after a changed: c re-executes although b, between them, is not selected."""
    nbs, profile, _ = tiny
    _tiny_notebook(nbs[1].source.parent / "c.py", "print('c')")
    nbs = nbs + [Notebook("c", "dca.evaluate.bootstrap:MetricsChapterConfig", source_dir=nbs[0].source.parent,
                          executed_dir=nbs[0].executed.parent)]
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["executed"] * 3
    nbs[0].source.write_text(nbs[0].source.read_text() + "\n# %%\nprint('changed')\n")
    assert _what(book.execute_all(str(profile), only=["a", "c"], notebooks=nbs)) == ["executed", "executed"]
    # b still holds the old a's execution: a full run brings it (and c, after it) up to date
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["up to date", "executed", "executed"]
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["up to date"] * 3


def test_driver_keeps_the_failed_notebook_and_fails(tiny):
    import nbformat

    nbs, profile, _ = tiny
    _tiny_notebook(nbs[1].source, "raise RuntimeError('deliberate failure')")
    with pytest.raises(book.BookError, match="b failed"):
        book.execute_all(str(profile), notebooks=nbs)
    failed = nbformat.read(nbs[1].executed, as_version=4)
    assert failed.metadata["dca_book"]["status"] == "failed"
    assert "deliberate failure" in json.dumps([c.get("outputs", []) for c in failed.cells])
    # a failed notebook is never "up to date"
    with pytest.raises(book.BookError):
        book.execute_all(str(profile), notebooks=nbs)


def test_driver_holds_the_run_folder_lock_for_its_notebooks(tiny):
    """The notebooks run under the driver's lock (their stages enter it again through the token they
    inherit); a folder locked by another live process stops the driver before any notebook runs."""
    from dca.runs import artifacts

    nbs, profile, run = tiny
    _tiny_notebook(nbs[1].source, "import json, os, pathlib\n"
                   "holder = json.loads((pathlib.Path(run_dir) / '.dca.lock').read_text())\n"
                   "assert holder['token'] == os.environ['DCA_LOCK_TOKEN'] and holder['pid'] != os.getpid()\n"
                   "from dca.runs.artifacts import run_lock\n"
                   "with run_lock(run_dir):\n    print('entered')")
    assert _what(book.execute_all(str(profile), notebooks=nbs)) == ["executed", "executed"]
    assert not (run / artifacts.LOCK).exists()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run / artifacts.LOCK).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename}))
        with pytest.raises(artifacts.RunLockedError, match=f"in use by process {holder.pid}"):
            book.execute_all(str(profile), notebooks=nbs, force=True)
    finally:
        holder.kill()
        holder.wait()


def test_a_misspelled_papermill_parameter_stops_the_notebook(tiny, tmp_path):
    """papermill passes any name; the notebook's config rejects one that is not a parameter."""
    nbs, _, run = tiny
    _tiny_notebook(nbs[0].source, "from dca.evaluate.bootstrap import MetricsChapterConfig\n"
                   "config = MetricsChapterConfig.from_namespace(globals())")
    with pytest.raises(Exception, match="unknown parameter 'n_bot'"):
        book.execute(nbs[0].source, tmp_path / "a.ipynb", {"run_dir": str(run), "n_bot": 5}, {})


def test_the_book_kernel_runs_without_the_remote_tcp_warning(tiny, tmp_path, capfd):
    """Only that message is dropped (ipykernel's launcher otherwise): the chapter runs and nothing else is hidden."""
    from dca.book.kernel import LocalKernelFilter

    nbs, _, run = tiny
    book.execute(nbs[0].source, tmp_path / "a.ipynb", {"run_dir": str(run), "n_boot": 3}, {})
    assert (run / "a.txt").read_text() == "3"
    assert "without encryption" not in "".join(capfd.readouterr())
    import logging

    record = lambda msg: logging.LogRecord("IPKernelApp", logging.WARNING, "", 0, msg, None, None)  # noqa: E731
    assert not LocalKernelFilter().filter(record("Kernel is running over TCP without encryption. All ..."))
    assert LocalKernelFilter().filter(record("Kernel is running over IPC"))


# --------------------------------------------------------------------------------------------
# The smoke book, built once per test session


@pytest.fixture(scope="session")
def smoke_book() -> Path:
    """Build the smoke book (a no-op when it is up to date) and return its HTML folder."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "dca.book", "build", "--profile", "smoke"],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )
    if proc.returncode != 0:
        log = proc.stdout + proc.stderr
        flagged = [line for line in log.splitlines() if re.search(r"WARNING|ERROR|error:|Error|FAILED", line)]
        pytest.fail(f"smoke book build failed (exit {proc.returncode}):\n" + "\n".join(flagged[-60:])
                    + f"\n--- last output ---\n{log[-3000:]}")
    print(f"smoke book built in {time.perf_counter() - start:.0f} s")
    return book.HTML_DIR


def _pages() -> list[str]:
    return [f"{f}.html" for f in _toc_files()]


@pytest.mark.browser
@pytest.mark.slow
def test_built_html_uses_local_mathjax_and_no_cdn(smoke_book):
    assert (smoke_book / "_static" / "mathjax" / "tex-mml-chtml.js").exists()
    for page in _pages():
        html = (smoke_book / page).read_text()
        srcs = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
        links = re.findall(r'<link[^>]*\shref="([^"]+)"', html)
        if 'class="math' in html:  # Sphinx adds MathJax to the pages that have math
            assert any(re.search(r"_static/mathjax/tex-mml-chtml\.js", s) for s in srcs), f"{page}: no local MathJax"
        assert not [s for s in srcs if "mathjax" in s.lower() and not s.startswith("../") and not s.startswith("_static")], srcs
        external = [u for u in srcs + links if re.match(r"^(https?:)?//", u) and "rel=\"canonical\"" not in u]
        assert not external, f"{page} loads from the network: {external}"
        assert "cdn.jsdelivr" not in html and "cdnjs" not in html, page


# --------------------------------------------------------------------------------------------
# Headless chromium over the DevTools protocol (pipe transport)


class Chromium:
    """A headless chromium driven through ``--remote-debugging-pipe`` (fds 3 and 4)."""

    def __init__(self, user_data_dir: str) -> None:
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()

        def child_fds() -> None:
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-pipe",
             # nothing may leave the machine: any other host fails to resolve (and shows as an error)
             "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
             f"--user-data-dir={user_data_dir}", "--window-size=1280,1600", "about:blank"],
            pass_fds=(3, 4), preexec_fn=child_fds,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def _recv(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            ready, _, _ = select.select([self._from_r], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout: float = 60) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._recv(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True, timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, timeout: float = 60) -> list[dict]:
        """Navigate and wait for the load event; return the events seen on the way."""
        self.events = []
        self.call("Page.navigate", {"url": url}, session=True)
        end = time.monotonic() + timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._recv(max(0.1, end - time.monotonic())))
        return self.events

    def drain(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.events.append(self._recv(max(0.05, end - time.monotonic())))
            except TimeoutError:
                break

    def screenshot(self, path: Path) -> None:
        import base64

        data = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, session=True)
        path.write_bytes(base64.b64decode(data["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_w)
        os.close(self._from_r)


def _problems(events: list[dict]) -> list[str]:
    """Console errors, uncaught exceptions, failed or off-machine requests among DevTools events."""
    out = []
    for e in events:
        method, p = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            out.append(f"uncaught: {d.get('exception', {}).get('description', d.get('text'))}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"log error: {p['entry']['text']} {p['entry'].get('url', '')}")
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"request failed: {p.get('errorText')}")
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            if not re.match(r"^(http://127\.0\.0\.1[:/]|data:|blob:|about:)", url):
                out.append(f"request leaves the machine: {url}")
    return out


# innerText of the page without code, outputs and typeset math: where raw TeX would show
VISIBLE_TEXT = """(() => {
  const root = document.querySelector('main') || document.body;
  const clone = root.cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_output, .highlight, textarea')
       .forEach(n => n.remove());
  return clone.textContent;
})()"""

PAGE_STATE = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const imgs = [...document.querySelectorAll('main img')];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  return {
    title: document.title,
    h1: (document.querySelector('main h1') || {}).textContent || '',
    math: document.querySelectorAll('main .math').length,
    mjx: document.querySelectorAll('main mjx-container').length,
    mathjaxSrc: [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s)),
    mathjaxVersion: (window.MathJax && MathJax.version) || null,
    outputImgs: document.querySelectorAll('main .cell_output img').length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src),
  };
})()"""


def _expected_figures(page: str) -> int:
    """Figures in the executed notebook behind a page (0 for a markdown chapter): image outputs, and
    HTML outputs holding an ``<img>`` (a figure with its alt text, :func:`dca.report.plots.figure_html`)."""
    ipynb = ROOT / page.replace(".html", ".ipynb")
    if not ipynb.exists():
        return 0
    nb = json.loads(ipynb.read_text())

    def figures(output: dict) -> int:
        data = output.get("data", {})
        if any(k.startswith("image/") for k in data):
            return 1
        html = data.get("text/html", "")
        return ("".join(html) if isinstance(html, list) else html).count("<img ")

    return sum(figures(o) for c in nb["cells"]
               if c["cell_type"] == "code" and "remove-output" not in c["metadata"].get("tags", [])
               for o in c.get("outputs", []))


@pytest.fixture(scope="session")
def served_book(smoke_book):
    """An http.server on 127.0.0.1 serving the built HTML; yields (base url, requests log)."""
    log: list[tuple[str, int]] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            log.append((self.path, int(code) if str(code).isdigit() else 0))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(smoke_book)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is missing under CI=true; .ci/run installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    with tempfile.TemporaryDirectory(prefix="dca-chromium-") as user_data:
        b = Chromium(user_data)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page", _pages())
def test_page_renders_in_chromium(page, served_book, browser):
    base, log = served_book
    log.clear()
    events = browser.open(f"{base}/{page}")
    state = browser.evaluate(PAGE_STATE)
    browser.drain(0.5)  # late console messages
    problems = _problems(browser.events)
    shots = os.environ.get("DCA_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        browser.screenshot(Path(shots) / (page.replace("/", "__").replace(".html", ".png")))

    assert state["h1"].strip(), f"{page}: no title heading"
    assert not problems, f"{page}:\n" + "\n".join(problems)
    assert not [(p, c) for p, c in log if c >= 400], f"{page}: failed requests {log}"
    # offline math: the local MathJax ran and typeset every formula
    assert all(s.startswith(base) for s in state["mathjaxSrc"]), state["mathjaxSrc"]
    if state["math"]:
        assert state["mathjaxSrc"], f"{page}: math but no MathJax"
        assert state["mathjaxVersion"], f"{page}: MathJax did not start"
        assert state["mjx"] >= state["math"], f"{page}: {state['math']} formulas but {state['mjx']} typeset"
    text = browser.evaluate(VISIBLE_TEXT)
    for raw in ("$$", "\\(", "\\)", "\\[", "\\]"):
        assert raw not in text, f"{page}: raw TeX {raw!r} in the visible text"
    # figures: one decoded <img> per image output of the executed notebook
    assert not state["broken"], f"{page}: images that did not load: {state['broken']}"
    assert state["outputImgs"] == _expected_figures(page), (page, state["outputImgs"], _expected_figures(page))
    assert events  # the page did load


def test_the_reader_sees_one_folded_table_of_the_parameters_that_ran(tmp_path):
    """The parameters cell and papermill's injected cell are removed from the page; one folded table
    (name, value, default, meaning; changed values in bold) replaces them, once."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Metrics"),
                nbformat.v4.new_code_cell("run_dir = 'runs/default'\nn_boot = 1000\nseed = 0"),
                nbformat.v4.new_code_cell("n_boot = 5"), nbformat.v4.new_code_cell("print(n_boot)")]
    nb.cells[1].metadata["tags"] = ["parameters"]
    nb.cells[2].metadata["tags"] = ["injected-parameters"]
    path = tmp_path / "04_metrics.ipynb"
    nbformat.write(nb, path)
    book.fold_parameters(path, {"run_dir": "runs/default", "n_boot": 5})
    book.fold_parameters(path, {"run_dir": "runs/default", "n_boot": 5})  # idempotent
    out = nbformat.read(path, as_version=4)
    assert [c.metadata.get("tags", []) for c in out.cells[1:3]] == [["parameters", "remove-cell"],
                                                                   ["injected-parameters", "remove-cell"]]
    folded = [c for c in out.cells if "dca-parameters" in c.metadata.get("tags", [])]
    assert len(folded) == 1 and out.cells.index(folded[0]) == 3
    text = folded[0].source
    assert ":class: dropdown" in text and "1 differ from the defaults" in text
    assert "| `n_boot` | **`5`** | `1000` |" in text and "| `seed` | `0` | `0` |" in text


# --------------------------------------------------------------------------------------------
# Every screen, every download, search


#: The widths a reader brings: a desktop and a phone.
WIDTHS = (1280, 414)

LAYOUT = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('main *')].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > window.innerWidth + 1 && getComputedStyle(el).position !== 'fixed'
      && !el.closest('.table, .cell_output, .highlight, mjx-container, .MathJax, [style*="overflow"]');
  }).slice(0, 5).map(el => `${el.tagName.toLowerCase()}.${el.className} right=${Math.round(el.getBoundingClientRect().right)}`);
  return {scrollWidth: doc.scrollWidth, innerWidth: window.innerWidth, wide};
})()"""

DOWNLOADS = """[...document.querySelectorAll('a[href]')]
  .map(a => a.getAttribute('href'))
  .filter(h => /\\.(ipynb|md|py|csv)(\\?|#|$)/.test(h) && !/^https?:/.test(h))"""


def _set_width(browser, width: int) -> None:
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}, session=True)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", _pages())
def test_page_never_scrolls_sideways(page, width, served_book, browser):
    """At 1280 and 414 px the page is no wider than the window (wide content scrolls in its own box)."""
    base, _ = served_book
    _set_width(browser, width)
    try:
        browser.open(f"{base}/{page}")
        layout = browser.evaluate(LAYOUT)
        shots = os.environ.get("DCA_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            browser.screenshot(Path(shots) / f"{page.replace('/', '__').replace('.html', '')}-{width}.png")
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    assert layout["scrollWidth"] <= layout["innerWidth"] + 1, f"{page} at {width} px scrolls sideways: {layout}"


@pytest.mark.browser
@pytest.mark.slow
def test_every_download_link_answers_200(served_book, browser):
    """The .ipynb/.md download buttons of every page and the student notebooks of the exercises page."""
    import urllib.parse
    import urllib.request

    base, _ = served_book
    checked: dict[str, int] = {}
    students = []
    for page in _pages():
        browser.open(f"{base}/{page}")
        for href in browser.evaluate(DOWNLOADS):
            url = urllib.parse.urljoin(f"{base}/{page}", href.split("#")[0])
            if url not in checked:
                with urllib.request.urlopen(url, timeout=30) as reply:
                    checked[url] = reply.status
                    body = reply.read()
                if "_students/" in url or "/_downloads/" in url and url.endswith(".ipynb"):
                    students.append(url)
                    nb = json.loads(body)
                    assert nb["nbformat"] == 4 and nb["cells"], url
    assert checked, "no download link found"
    assert all(code == 200 for code in checked.values()), {u: c for u, c in checked.items() if c != 200}
    executed = [u for u in checked if "_executed/" in u and u.endswith(".ipynb")]
    assert len(executed) >= len(book.NOTEBOOKS), f"chapter .ipynb downloads: {executed}"
    assert len(students) >= len([nb for nb in book.NOTEBOOKS if "exercise-start" in nb.source.read_text()]), students


@pytest.mark.browser
@pytest.mark.slow
def test_search_snippets_show_no_tex(served_book, browser):
    base, _ = served_book
    browser.open(f"{base}/search.html?q=confidence")
    snippets = browser.evaluate("""(async () => {
      for (let i = 0; i < 100; i++) {
        const s = [...document.querySelectorAll('#search-results p.context')];
        if (s.length >= 3) return s.map(p => p.textContent);
        await new Promise(r => setTimeout(r, 100));
      }
      return [...document.querySelectorAll('#search-results p.context')].map(p => p.textContent);
    })()""")
    assert snippets, "no search results for 'confidence'"
    for raw in ("\\(", "\\)", "\\[", "$$", "&gt;"):
        assert not any(raw in s for s in snippets), (raw, snippets)
    assert browser.evaluate("window.dcaUntex('a \\\\(C_v > \\\\sigma_{\\\\varepsilon}\\\\) b')") == "a C_v > σ_ε b"


# --------------------------------------------------------------------------------------------
# What a reader sees: no raw markup, nothing cut, text large enough

FITS = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const main = document.querySelector('main') || document.body;
  const imgs = [...main.querySelectorAll('.cell_output img, .admonition img')];
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const shown = el => el.offsetParent !== null && el.getBoundingClientRect().width > 0;
  const box = t => {  // the element that scrolls (or clips) the table: itself or an ancestor
    for (let el = t; el && el !== main; el = el.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX)) return el;
    }
    return t;
  };
  return {
    text: main.innerText,
    tables: [...main.querySelectorAll('table')].filter(shown).map(t => ({
      head: [...t.querySelectorAll('th')].map(th => th.textContent.trim()).join(' | ').slice(0, 120),
      scroll: box(t).scrollWidth, client: box(t).clientWidth})),
    equations: [...main.querySelectorAll('mjx-container[display="true"]')].filter(shown).map(m => ({
      scroll: m.scrollWidth, client: m.clientWidth})),
    figures: imgs.filter(shown).map(i => ({src: i.src.split('/').pop(), shown: i.getBoundingClientRect().width,
                                           natural: i.naturalWidth})),
  };
})()"""

#: A MyST role or a glue reference left as text (``{glue:text}`name```, ``{ref}`x```).
RAW_ROLE = re.compile(r"\{(glue|glue:text|glue:any|ref|numref|cite|cite:p|cite:t|doc|download|eq|math)\}|\{glue")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("page", _pages())
def test_no_raw_role_no_cut_table_or_equation_and_figure_text_9_px(page, width, served_book, browser):
    """At 1280 px no table needs scrolling (every column a sentence refers to is on screen); at both
    widths no display equation is cut, no MyST role or glue shows as text, and every figure is shown
    so that its smallest text (``MIN_FONT_PT``, which ``test_plots`` checks every figure keeps) is at
    least 9 px on screen: font size x shown width / natural width, measured here."""
    from dca.report.plots import BOOK_DPI, COLUMN_PX_MIN, MIN_FONT_PT, MIN_TEXT_PX

    base, _ = served_book
    _set_width(browser, width)
    try:
        browser.open(f"{base}/{page}")
        seen = browser.evaluate(FITS)
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    raw = RAW_ROLE.findall(seen["text"])
    assert not raw, f"{page} at {width} px shows raw markup: {raw}"
    cut = [e for e in seen["equations"] if e["scroll"] > e["client"] + 1]
    assert not cut, f"{page} at {width} px: display equations cut or scrolling: {cut}"
    if width >= 1280:
        scrolling = [t["head"] for t in seen["tables"] if t["scroll"] > t["client"] + 1]
        assert not scrolling, f"{page} at {width} px: tables with columns off-screen: {scrolling}"
    for fig in seen["figures"]:  # the smallest font (pt) at the scale the figure is shown: >= 9 px
        px = MIN_FONT_PT * fig["shown"] * BOOK_DPI / (72 * fig["natural"])
        assert px >= MIN_TEXT_PX, f"{page} at {width} px: {fig}: its smallest text is {px:.1f} px on screen"
        assert fig["shown"] >= min(COLUMN_PX_MIN, fig["natural"]) - 1, f"{page} at {width} px: {fig} narrower than assumed"


@pytest.mark.browser
@pytest.mark.slow
def test_download_menu_is_labelled_and_has_no_print_only_pdf(smoke_book):
    """A chapter's download menu says which notebook holds the solutions and offers the student copy;
    no ``.pdf`` entry (no PDF is built; it only opened the print dialog)."""
    for nb in NOTEBOOKS:
        html = (smoke_book / "book" / "_executed" / f"{nb.name}.html").read_text()
        assert "download-pdf-button" not in html and ">.pdf<" not in html, nb.name
        assert ".ipynb, with solutions" in html, nb.name
        if "exercise-start" in nb.source.read_text():
            assert "student copy (no solutions)" in html and "_downloads/" in html, nb.name


@pytest.mark.browser
@pytest.mark.slow
def test_pages_name_what_ran_and_read_every_default_from_the_configs(smoke_book):
    """The paper-scale page names the model the chapters ran; the decisions page's defaults come from
    the stage configs and profiles (none typed in its source); the landing page relates this build's
    run to the reference verdict; no page shows a raw glue role."""
    from dca.book.html import model_title
    from dca.book.parameters import decisions_markdown
    from dca.config import load_profile

    model = load_profile("smoke").get("common", {}).get("model", "embedded")
    scale = (smoke_book / "book" / "paper_scale.html").read_text()
    assert "profile <code" in scale and model_title(model) in scale
    source = (ROOT / "book" / "decisions.md").read_text()
    assert "| decision |" not in source and "5e-4" not in source and "_generated/decisions.md" in source
    decisions = (smoke_book / "book" / "decisions.html").read_text()
    assert "learning_rate" in decisions and decisions_markdown().count("|") > 50
    assert "This build’s own run" in (smoke_book / "book" / "intro.html").read_text()
    for page in _pages():
        assert "{glue" not in (smoke_book / page).read_text(), page


def test_student_notebooks_carry_the_parameters_their_chapter_ran_with(tmp_path):
    from dca.book.exercises import write_student_notebooks

    source = NOTEBOOKS[0].source
    [path] = write_student_notebooks([source], tmp_path, parameters={
        source.stem: {"model": "qwen2.5-coder-1.5b", "dataset": "openbookqa+mmlu", "n_questions": 48}})
    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    text = "".join(cell["source"])
    assert "model = 'qwen2.5-coder-1.5b'" in text and "n_questions = 48" in text and "dataset = 'openbookqa+mmlu'" in text
    assert "model = 'embedded'" not in text


# --------------------------------------------------------------------------------------------
# Chapter 07 as a lecture: its height, folded details, names a reader knows, figures that say what they show

#: The tallest chapter 07 may be at 1280 px (folded details closed): the answer, then the details.
CHAPTER_07_MAX_PX = 9000

#: Raw names of the result rows (metrics, methods, splits) that a reader must never meet in a table.
RAW_NAMES = re.compile(r"\b(say_ci|heldout|mean_abs_eps|sigma_eps|accuracy_all|whole_percent|top_cv_share|"
                       r"exact_round_ci|distinct_cv|parse_rate|letter_changed)\b|σ ε")

OPENED_TABLES = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const main = document.querySelector('main') || document.body;
  main.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(r => setTimeout(r, 50));
  const box = t => {
    for (let el = t; el && el !== main; el = el.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(el).overflowX)) return el;
    }
    return t;
  };
  return [...main.querySelectorAll('table')].map(t => ({
    text: [...t.querySelectorAll('th, td')].map(c => c.textContent.trim()).join(' | '),
    head: [...t.querySelectorAll('th')].map(th => th.textContent.trim()).join(' | ').slice(0, 120),
    scroll: box(t).scrollWidth, client: box(t).clientWidth}));
})()"""

FIGURE_ALTS = """[...document.querySelectorAll('main .cell_output img, main .admonition img')]
  .map(i => i.getAttribute('alt') || '')"""


@pytest.mark.browser
@pytest.mark.slow
def test_chapter_07_opens_with_the_answer_and_is_at_most_9000_px_tall(served_book, browser):
    base, _ = served_book
    _set_width(browser, 1280)
    try:
        browser.open(f"{base}/book/_executed/07_why_and_what_works.html")
        seen = browser.evaluate("""(async () => {
          const imgs = [...document.querySelectorAll('main img')];
          await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
          const answer = [...document.querySelectorAll('main .admonition')].find(a => /The answer/.test(a.textContent));
          const figure = document.querySelector('main img.dca-figure');
          return {height: document.documentElement.scrollHeight,
                  answerTop: answer ? answer.getBoundingClientRect().top + window.scrollY : null,
                  figureTop: figure ? figure.getBoundingClientRect().top + window.scrollY : null,
                  firstSection: document.querySelector('main section section h2').getBoundingClientRect().top
                                + window.scrollY};
        })()""")
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    print(f"chapter 07 height {seen['height']} px")
    assert seen["height"] <= CHAPTER_07_MAX_PX, f"chapter 07 is {seen['height']} px tall at 1280 px"
    assert seen["answerTop"] is not None and seen["answerTop"] < 900, seen  # on the first screen
    assert seen["figureTop"] is not None and seen["answerTop"] < seen["figureTop"] < seen["firstSection"], seen


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page", _pages())
def test_no_table_scrolls_at_1280_even_unfolded_and_none_shows_raw_names(page, served_book, browser):
    """Every table, the folded ones opened, fits the text column at 1280 px, and none shows a raw name of
    the result rows (``mean_abs_eps``, ``say_ci``, ``heldout``, ...)."""
    base, _ = served_book
    _set_width(browser, 1280)
    try:
        browser.open(f"{base}/{page}")
        tables = browser.evaluate(OPENED_TABLES)
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
    scrolling = [t["head"] for t in tables if t["scroll"] > t["client"] + 1]
    assert not scrolling, f"{page} at 1280 px: tables wider than the column: {scrolling}"
    raw = sorted({m.group(0) for t in tables for m in RAW_NAMES.finditer(t["text"])})
    assert not raw, f"{page}: raw names in its tables: {raw}"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("page", _pages())
def test_every_figure_has_alt_text_that_says_what_it_shows(page, served_book, browser):
    base, _ = served_book
    browser.open(f"{base}/{page}")
    alts = browser.evaluate(FIGURE_ALTS)
    bad = [a for a in alts if len(a.split()) < 5 or re.search(r"\.(png|svg|jpe?g)$|/", a)]
    assert not bad, f"{page}: figures whose alt text is a file name or too short to say what they show: {bad}"
