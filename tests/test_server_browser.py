"""The server's pages in a real headless Chromium: log in with a token, upload, watch the row appear.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
JSON messages separated by NUL bytes on file descriptors 3 and 4), so no driver
binary or extra package is needed.  Skipped where Chromium is not installed, except
in CI (``CI=true``), which installs it.
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install 'facebench[server]')")

from tests.server_harness import (
    Server,
    add_user,
    database_url,
    make_gts,
    make_preds,
    need,
    wait_until,
    write_config,
    zip_folder,
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,900"]


class Browser:
    """A headless Chromium and one page, driven over the DevTools pipe."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="facebench-chromium-")
        to_child, self._out = os.pipe()          # we write commands, Chromium reads fd 3
        self._in, from_child = os.pipe()         # Chromium writes fd 4, we read

        def wire():
            a, b = os.dup(to_child), os.dup(from_child)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                     preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self.next_id, self.replies, self.events = 0, {}, []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page.enable", "Runtime.enable", "DOM.enable"):
            self.call(domain, session=True)

    def _read(self):
        buf = b""
        while True:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                message = json.loads(raw)
                with self.cond:
                    if "id" in message:
                        self.replies[message["id"]] = message
                    else:
                        self.events.append(message)
                    self.cond.notify_all()

    def call(self, method, session=False, timeout=60, **params):
        with self.cond:
            self.next_id += 1
            msg_id = self.next_id
        message = {"id": msg_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        with self.cond:
            if not self.cond.wait_for(lambda: msg_id in self.replies, timeout):
                raise AssertionError(f"no answer to {method}")
            reply = self.replies.pop(msg_id)
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_load(self, start: int, timeout=60):
        """Wait for a page load event after event number ``start``."""
        with self.cond:
            ok = self.cond.wait_for(lambda: any(e.get("method") == "Page.loadEventFired"
                                                for e in self.events[start:]), timeout)
        assert ok, "the page did not load"

    def goto(self, url):
        start = len(self.events)
        self.call("Page.navigate", session=True, url=url)
        self.wait_load(start)

    def js(self, expression):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    def submit_and_wait(self, expression):
        start = len(self.events)
        self.js(expression)
        self.wait_load(start)

    def close(self):
        self.proc.kill()
        self.proc.wait(30)
        os.close(self._out)
        shutil.rmtree(self.profile, ignore_errors=True)


def test_log_in_upload_and_see_the_row_appear(tmp_path):
    need("Chromium", CHROMIUM is not None, "apt-get install chromium")
    data = tmp_path / "data"
    url = database_url("sqlite", data, [])
    gt, gtv = make_gts(tmp_path)
    write_config(data, {("synth-v1", "test"): (gt, 3, 10), ("synth-v1", "validation"): (gtv, None, None)},
                 poll_s=0.2)
    token = add_user(url, "ada")
    archive = zip_folder(make_preds(gt, tmp_path / "preds", "browser-method"), tmp_path / "browser.zip")
    server = Server(data, url, workers=1)
    browser = Browser()
    try:
        base = server.url
        browser.goto(f"{base}/leaderboard/synth-v1?phase=test")
        assert browser.js("document.getElementById('empty') !== null")          # no row yet
        browser.goto(f"{base}/upload")
        assert browser.js("location.pathname") == "/login"                       # not logged in yet
        browser.submit_and_wait(f"document.getElementById('token').value = {json.dumps('wrong')};"
                                "document.getElementById('login').click()")
        assert "invalid or revoked" in browser.js("document.getElementById('error').textContent")
        browser.submit_and_wait(f"document.getElementById('token').value = {json.dumps(token)};"
                                "document.getElementById('login').click()")
        assert browser.js("location.pathname") == "/me" and "ada" in browser.js("document.body.innerText")
        browser.goto(f"{base}/upload")
        node = browser.call("DOM.querySelector", session=True, selector="#file",
                            nodeId=browser.call("DOM.getDocument", session=True)["root"]["nodeId"])["nodeId"]
        browser.call("DOM.setFileInputFiles", session=True, nodeId=node, files=[str(archive)])
        browser.submit_and_wait("document.getElementById('track').value = 'synth-v1|test';"
                                "document.getElementById('upload').click()")
        path = browser.js("location.pathname")
        assert path.startswith("/submissions/s"), browser.js("document.body.innerText")

        def scored():
            try:
                return browser.js("(document.getElementById('state') || {}).textContent") == "scored"
            except AssertionError:               # evaluated while the page reloads itself
                return False
        wait_until(scored, timeout=90, what="the page to show the submission scored", pause=0.5)
        text = browser.js("document.body.innerText")
        assert "canonical" in text and "mean_mm" in text and "GT manifest sha256" in text
        browser.goto(f"{base}/leaderboard/synth-v1?phase=test")
        rows = browser.js("Array.from(document.querySelector('table tbody').rows).map(r => r.innerText)")
        assert len(rows) == 1 and "browser-method" in rows[0] and "ada" in rows[0]
        assert int(browser.js("document.body.dataset.sortable")) >= 1            # the page's script ran
        shot = browser.call("Page.captureScreenshot", session=True, format="png")["data"]
        if os.environ.get("FACEBENCH_SCREENSHOT"):
            import base64

            Path(os.environ["FACEBENCH_SCREENSHOT"]).write_bytes(base64.b64decode(shot))
        external = browser.js("Array.from(document.querySelectorAll('[src],[href]'))"
                              ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
                              ".filter(u => /^(https?:)?\\/\\//.test(u))")
        assert external == []
    finally:
        browser.close()
        server.stop()
