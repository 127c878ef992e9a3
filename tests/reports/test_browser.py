"""report.html opened in headless Chromium: plots decode, tables render, the failure filter works,
and the page makes no request beyond itself.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: commands on
fd 3, answers on fd 4, NUL-separated JSON), so no port is opened and no extra client library is
needed. Every network request the page starts is recorded from ``Network.requestWillBeSent``.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from reports.render import write_reports

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium"
    ),
]

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    # Any name that still got resolved would fail: nothing can reach beyond the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--remote-debugging-pipe",
]


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, user_data_dir: Path) -> None:
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: Chromium expects the pipe on fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(resp_w, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,
            # The fds are closed after preexec_fn unless kept: keep the two numbers Chromium reads.
            pass_fds=(3, 4),
        )
        os.close(cmd_r)
        os.close(resp_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (OSError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._resp_r)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._resp_r], [], [], remaining)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                raise OSError("Chromium closed the debugging pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 60,
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def evaluate(self, expression: str, session: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")


def _requests(events: list[dict[str, Any]]) -> list[str]:
    return [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Open the standard run's report, collect what the tests check, and keep a screenshot."""
    from tests.reports.make_run import standard_run

    base = tmp_path_factory.mktemp("browser")
    run_dir = standard_run(base / "run")
    (html,) = write_reports(run_dir, ["html"])
    browser = DevTools(base / "profile")
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        browser.send("Page.navigate", {"url": html.as_uri()}, session)
        browser.wait_for("Page.loadEventFired")
        page = browser.evaluate(
            """(async () => {
                await Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)));
                const visible = sel => Array.from(document.querySelectorAll(sel))
                    .filter(e => e.offsetParent !== null).length;
                const before = visible('table.samples tbody tr');
                document.getElementById('only-failures').click();
                const after = visible('table.samples tbody tr');
                document.getElementById('only-failures').click();
                return {
                    images: Array.from(document.images).map(i => ({
                        complete: i.complete, width: i.naturalWidth, height: i.naturalHeight, alt: i.alt})),
                    tables: document.querySelectorAll('table').length,
                    summaryRows: document.querySelectorAll('#summary > table tbody tr').length,
                    sampleRowsShown: before,
                    failureRowsShown: after,
                    title: document.title,
                    resources: performance.getEntriesByType('resource').map(r => r.name),
                };
            })()""",
            session,
        )
        page["requests"] = _requests(browser.events)
        # A request the page is not allowed to make must be stopped by its CSP, before any network
        # (the probe's address is loopback all the same).
        page["csp"] = browser.evaluate(
            """new Promise(resolve => {
                document.addEventListener('securitypolicyviolation', e => resolve(e.effectiveDirective));
                const probe = new Image();
                probe.src = 'http://127.0.0.1:9/probe.png';
                document.body.appendChild(probe);
                setTimeout(() => resolve('not blocked'), 3000);
            })""",
            session,
        )
        shot = browser.send(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session
        )
        screenshot = base / "report.png"
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        page["screenshot"] = screenshot
        page["blocked"] = [
            e["params"].get("blockedReason")
            for e in browser.events
            if e.get("method") == "Network.loadingFailed"
        ]
        page["html"] = html
    finally:
        browser.close()
    return page


def test_plots_decode(report_page: dict[str, Any]) -> None:
    images = report_page["images"]
    assert len(images) >= 5
    for image in images:
        assert image["complete"] and image["width"] > 100 and image["height"] > 100, image


def test_tables_render(report_page: dict[str, Any]) -> None:
    assert report_page["tables"] >= 6
    assert report_page["summaryRows"] == 2
    assert report_page["title"] == "standard · standard"


def test_failure_filter_hides_passing_rows(report_page: dict[str, Any]) -> None:
    assert report_page["sampleRowsShown"] == 8
    assert report_page["failureRowsShown"] == 3


def test_no_request_leaves_the_page(report_page: dict[str, Any]) -> None:
    for url in report_page["requests"] + [r for r in report_page["resources"] if "probe" not in r]:
        assert url.startswith(("file://", "data:")), url
    assert report_page["requests"][0] == report_page["html"].as_uri()
    assert report_page["csp"] == "img-src"
    assert report_page["blocked"] == ["csp"]


def test_screenshot_is_a_real_page(report_page: dict[str, Any]) -> None:
    from matplotlib.image import imread

    pixels = imread(report_page["screenshot"])
    height, width = pixels.shape[:2]
    assert width > 1300 and height > 2000  # the whole page (less a scrollbar), not one screen
    assert pixels[..., :3].std() > 0.05  # not a blank page
