"""End to end in a real browser: Debian chromium driven by Playwright against
`cyberclaim ui` on a free loopback port and a prepared (ingested) scenario case.
Signs in, opens the case, filters the timeline (and prints how long the filter
change took to render), shows the entity graph, changes a what-if input on the loss
page, issues and downloads a report, switches to Chinese; screenshots go to the
test's tmp dir."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import ui_case
from conftest import need

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path, monkeypatch, request):
    need(Path(CHROMIUM).exists(), "chromium not installed at /usr/bin/chromium")
    scn = ui_case.scenario(ui_case.cache_root(request))
    home = tmp_path / "home"
    monkeypatch.setenv("CYBERCLAIM_HOME", str(home))
    monkeypatch.delenv("CYBERCLAIM_DB_URL", raising=False)
    cid = ui_case.prepare(home, scn)
    port = _free_port()
    exe = Path(sys.executable).parent / "cyberclaim"
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([str(exe), "ui", "--port", str(port), "--case", cid], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, CYBERCLAIM_HOME=str(home)))
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 40
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("cyberclaim ui did not come up: " + (tmp_path / "server.log").read_text()[-2000:])
    yield url, cid, tmp_path
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
    # terminating `cyberclaim ui` stops the server itself (no orphaned Streamlit left answering)
    try:
        urllib.request.urlopen(url + "/_stcore/health", timeout=2).read()
        answered = True
    except OSError:
        answered = False
    assert not answered, "the Streamlit server outlived `cyberclaim ui`"


def test_browser_session(server):
    from playwright.sync_api import expect, sync_playwright

    url, cid, shots = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(url)
        page.get_by_label("User name").fill("ana")
        page.get_by_role("textbox", name="Password").fill(ui_case.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Cases")).to_be_visible()
        page.get_by_role("button", name="Open case").click()
        expect(page.get_by_text(f"Opened case {cid}")).to_be_visible()
        page.screenshot(path=str(shots / "1_cases.png"), full_page=True)

        page.get_by_role("link", name="Timeline").click()
        counter = page.get_by_text("events · page")
        expect(counter).to_be_visible()
        before = counter.inner_text()
        t0 = time.perf_counter()
        text = page.get_by_label("Text", exact=True)
        text.fill("sshd")
        text.press("Enter")
        expect(counter).not_to_have_text(before, timeout=20_000)
        print(f"timeline filter change rendered in {time.perf_counter() - t0:.2f} s (browser, {before.split()[0]} events)")
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "2_timeline.png"), full_page=True)

        page.get_by_role("link", name="Graph").click()
        expect(page.get_by_text("Click an entity in the chart")).to_be_visible(timeout=60_000)
        expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "2b_graph.png"), full_page=True)

        page.get_by_role("link", name="Loss").click()
        adjusted = page.get_by_test_id("stMetric").filter(has_text="Adjusted (what if)")
        expect(adjusted).to_be_visible(timeout=60_000)  # first visit: the storyline is derived and cached
        old = adjusted.inner_text()
        gpr = page.get_by_label("Gross-profit rate")
        gpr.fill("0.900")
        gpr.press("Enter")
        expect(adjusted).not_to_have_text(old, timeout=20_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "3_loss.png"), full_page=True)

        page.get_by_role("link", name="Reports").click()
        page.get_by_test_id("stSelectbox").filter(has_text="Format").click()
        page.get_by_role("option", name="json").click()
        page.get_by_role("button", name="Issue report").click()
        expect(page.get_by_text("Report issued")).to_be_visible(timeout=60_000)
        with page.expect_download() as dl:
            page.get_by_test_id("stDownloadButton").locator("button").click()
        saved = shots / "report.json"
        dl.value.save_as(saved)
        import json

        assert json.loads(saved.read_text(encoding="utf-8"))  # the issued report, as a machine reads it
        page.screenshot(path=str(shots / "4_reports.png"), full_page=True)

        page.get_by_text("中文", exact=True).click()  # the language switch: the same page in Chinese
        expect(page.get_by_role("heading", name="报告", exact=True)).to_be_visible()
        page.get_by_role("link", name="定损").click()
        expect(page.get_by_test_id("stMetric").filter(has_text="核定金额（假设）")).to_be_visible(timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "5_loss_zh.png"), full_page=True)
        browser.close()
    print("screenshots in", shots)
