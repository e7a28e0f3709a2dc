"""The report in a real browser: headless Chromium (the distribution's package, installed by
``make test`` through ``.ci/ensure-chromium``) opens the index, one experiment page and one sweep
page from a local HTTP server, driven over the DevTools protocol.

Checked on each page: no console error, no uncaught exception, no failed or >= 400 request, every
``<img>`` decoded (complete with a natural width), and the verdict table present.
"""

from __future__ import annotations

import functools
import http.server
import json
import selectors
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from mathdl.atlas import Preset, get_experiment
from mathdl.report import slug, write_report
from mathdl.runner import evaluate_sweep_claims, execute_point, plan_sweep, run_and_store
from mathdl.store import RunStore

websocket = pytest.importorskip("websocket", reason="websocket-client is a dev dependency")
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: run .ci/ensure-chromium")
TIMEOUT_S = 60.0

PAGE_CHECK = """JSON.stringify({
  images: Array.from(document.images).map(
    i => ({src: i.src, ok: i.complete && i.naturalWidth > 0})),
  verdicts: document.querySelectorAll("table.claims td.holds, table.claims td.fails").length,
  title: document.title})"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[tuple[str, int]]

    def log_request(self, code="-", size="-"):
        self.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    store = RunStore.open(home)
    runge = get_experiment("approximation/runge")
    run_and_store(store, runge, runge.quick, preset=Preset.QUICK, seed=0)
    sweep, points = plan_sweep(runge, Preset.QUICK, {"a": [16.0, 64.0, 256.0]}, seeds=2)
    store.add_sweep(sweep)
    store.add_sweep_points(sweep.sweep_id, [
        (p.key, execute_point(runge.name, _as_dict(p.config), p.seed, "quick")) for p in points])
    evaluate_sweep_claims(store, sweep.sweep_id)
    index = write_report(store, home / "report")
    return index.parent


def _as_dict(config):
    from mathdl.atlas import config_to_dict

    return config_to_dict(config)


@pytest.fixture(scope="module")
def server(report):
    requests: list[tuple[str, int]] = []
    handler = type("Handler", (_Handler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(report)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


class _DevTools:
    """A minimal DevTools-protocol client: commands with ids, events collected in order."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=TIMEOUT_S, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("method") == method:
                return message
            self.events.append(message)
        raise TimeoutError(method)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    proc = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Chromium announces its DevTools endpoint on stderr once it listens: block on that line
    # (select with a deadline), then read the port from the profile's DevToolsActivePort.
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + TIMEOUT_S
    announced = False
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stderr, selectors.EVENT_READ)
        while not announced and time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stderr.readline()
            if not line:  # the browser exited
                break
            announced = line.startswith("DevTools listening on")
    if not (announced and port_file.is_file()):
        proc.kill()
        proc.wait()
        proc.stderr.close()
        pytest.fail(f"Chromium did not start (exit code {proc.poll()})")
    drain = threading.Thread(target=proc.stderr.read, daemon=True)  # never let the pipe fill
    drain.start()
    try:
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            target = next(t for t in json.load(resp) if t["type"] == "page")
        tools = _DevTools(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.ws.close()
    finally:
        proc.kill()
        proc.wait()
        drain.join(timeout=10)
        proc.stderr.close()


def _problems(events: list[dict]) -> list[str]:
    found = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            found.append(f"exception: {p['exceptionDetails'].get('text')}")
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            found.append(f"console.{p['type']}: {p.get('args')}")
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            found.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == "Network.loadingFailed":
            found.append(f"failed load: {p.get('errorText')}")
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            found.append(f"HTTP {p['response']['status']}: {p['response']['url']}")
    return found


def _open(browser: _DevTools, url: str) -> dict:
    browser.events.clear()
    browser.call("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired")
    result = browser.call("Runtime.evaluate", expression=PAGE_CHECK, returnByValue=True)
    return json.loads(result["result"]["value"])


def _pages(report: Path) -> list[str]:
    experiment = "experiments/" + slug("approximation/runge") + ".html"
    (sweep_page,) = sorted(p.relative_to(report).as_posix() for p in report.glob("sweeps/*.html"))
    return ["index.html", experiment, sweep_page]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["index", "experiment", "sweep"])
def test_page_loads_cleanly_with_figures_and_verdicts(report, server, browser, which):
    base, requests = server
    page = _pages(report)[which]
    seen = _open(browser, f"{base}/{page}")
    assert not _problems(browser.events), _problems(browser.events)
    assert seen["title"], "the page has a title"
    assert seen["verdicts"] >= 1, "the verdict table is present"
    if page != "index.html":
        assert seen["images"], "the page shows its figures"
    assert all(i["ok"] for i in seen["images"]), [i["src"] for i in seen["images"] if not i["ok"]]
    # the server saw every figure requested and served
    served = {path for path, code in requests if code == 200}
    for image in seen["images"]:
        assert "/" + image["src"].split("/", 3)[3] in served
