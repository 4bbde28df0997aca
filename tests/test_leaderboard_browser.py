"""Headless Chromium opens the leaderboard from disk (file://), driven through the DevTools protocol:
one row per submission, sorting by clicking a header, the submission page opens, the wrong-items
filter works, no console errors, and a model named <script>alert(1)</script> is text (no dialog).

Needs Debian's `chromium` (apt-get install -y chromium) and websocket-client (dev extra).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from _scoring_fixtures import make_release, use_fake_family, write_submission

from medbench.pipeline import score_file

pytestmark = pytest.mark.browser
CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser"))
                 if p and Path(p).exists()), None)
EVIL = "<script>alert(1)</script>"


class CDP:
    """A minimal DevTools-protocol client over one page target's websocket."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=20, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)
        raise TimeoutError(method)

    def _event(self, msg: dict) -> None:
        if "method" in msg:
            self.events.append(msg)
            if msg["method"] == "Page.javascriptDialogOpening":  # never leave the page blocked
                self.ws.send(json.dumps({"id": 10**6 + len(self.events), "method": "Page.handleJavaScriptDialog",
                                         "params": {"accept": True}}))

    def wait_event(self, method: str, since: int | None = None, timeout: float = 20) -> dict:
        """The first `method` event after index `since` (default: from now)."""
        start = len(self.events) if since is None else since
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ev in self.events[start:]:
                if ev["method"] == method:
                    return ev
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self._event(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def eval(self, expr: str):
        res = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (not a synthetic element.click()) at the centre of the element's first
        box: a wrapped link's bounding-box centre can fall between its lines."""
        box = self.eval(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                        "e.scrollIntoView({block: 'center'}); const r = e.getClientRects()[0]; "
                        "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def navigate_and_wait(self, url: str) -> None:
        mark = len(self.events)
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired", since=mark)


@pytest.fixture
def chromium(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    pytest.importorskip("websocket", reason="websocket-client is not installed (pip install -e .[dev])")
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            pages = [t for t in json.load(resp) if t["type"] == "page"]
        cdp = CDP(pages[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            cdp.call(f"{domain}.enable")
        yield cdp
        cdp.ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _problems(cdp: CDP) -> list[dict]:
    bad = []
    for ev in cdp.events:
        m, p = ev["method"], ev.get("params", {})
        if m == "Runtime.exceptionThrown" or m == "Page.javascriptDialogOpening" or m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert", "warning") or m == "Log.entryAdded" and p.get("entry", {}).get("level") in ("error", "warning"):
            bad.append(ev)
    return bad


def test_leaderboard_in_headless_chromium(chromium, tmp_path, monkeypatch):
    use_fake_family(monkeypatch)
    rel = make_release(tmp_path)
    lb = tmp_path / "leaderboard"
    models = {"zeta-model": 18, "alpha-model": 4, EVIL: 10}
    ids = {}
    for i, (model, correct) in enumerate(models.items()):
        sub = write_submission(tmp_path / f"s{i}.jsonl", rel, model=model, correct=correct)
        ids[model] = score_file(sub, benchmark=rel, leaderboard=lb, show_progress=False).result["result_id"]
    cdp = chromium
    cdp.navigate_and_wait((lb / "index.html").as_uri())

    assert cdp.eval("document.querySelectorAll('table.leaderboard tbody tr').length") == 3
    names = "Array.from(document.querySelectorAll('table.leaderboard tbody tr td:nth-child(2)')).map(td => td.textContent)"
    assert EVIL in cdp.eval(names)  # shown as text...
    assert cdp.eval("document.querySelectorAll('script').length") == 1  # ...and never became a script

    cdp.click("table.leaderboard thead th:nth-child(2)")  # model column: ascending
    assert cdp.eval(names) == sorted(models, key=str.lower)
    assert cdp.eval("document.querySelector('table.leaderboard thead th:nth-child(2)').getAttribute('aria-sort')") \
        == "ascending"
    cdp.click("table.leaderboard thead th:nth-child(2)")
    assert cdp.eval(names) == sorted(models, key=str.lower, reverse=True)
    cdp.click("table.leaderboard thead th:nth-child(3)")  # headline: ascending numbers
    values = cdp.eval("Array.from(document.querySelectorAll('table.leaderboard tbody tr td:nth-child(3)'))"
                      ".map(td => Number(td.dataset.sort))")
    assert values == sorted(values) and len(set(values)) == 3

    mark = len(cdp.events)
    cdp.click(f'tr[data-result-id="{ids[EVIL]}"] a')
    cdp.wait_event("Page.loadEventFired", since=mark)
    assert cdp.eval("location.href").endswith(f"submissions/{ids[EVIL]}.html")
    assert cdp.eval("document.querySelector('h1').textContent") == EVIL
    visible = "Array.from(document.querySelectorAll('.items .item')).filter(r => !r.hidden).length"
    assert cdp.eval(visible) == 18
    cdp.click("#only-wrong")
    assert cdp.eval(visible) == 8
    assert cdp.eval("document.getElementById('shown-count').textContent") == "8"

    assert _problems(cdp) == []
    assert not [e for e in cdp.events if e["method"] == "Page.javascriptDialogOpening"]
