"""Real headless Chromium (Debian's chromium + chromium-driver) driven by Selenium, and a real HTTP server."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class AppServer:
    """The Flask app on a real socket (loopback, free port), served from a thread; ``shop`` is the app's shop.

    ``with AppServer(app) as server:`` stops it when the block ends.
    """

    def __init__(self, app):
        self.shop = app.extensions["shop"]
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()

    def __enter__(self) -> AppServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def chrome(width: int = 1280, height: int = 900):
    """A fresh headless Chromium; skipped only outside CI when it is not installed, failed if it is broken."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        missing = (
            "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver "
            "(make test installs them when run as root)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests: {missing}")  # a skip there would pass unseen
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-default-apps",
        "--disable-extensions",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='shop-chromium-')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


# Runs before any page script, outside the page's CSP: every violation the page meets is kept.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || ''));
});
"""


def record_violations(driver):
    """Make ``driver`` keep every Content-Security-Policy violation of the pages it opens from now on."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    return driver


def violations(driver) -> list[str]:
    """The violations the page in ``driver`` met (directive, what was blocked, where), as record_violations keeps them."""
    return driver.execute_script("return window.__violations || []")


def screenshot(driver, name: str, full_page: bool = True) -> Path:
    """Save a PNG of the page: under docs/screenshots/ (the README shows them) with UPDATE_SCREENSHOTS=1,
    else in a temporary folder, so a test run leaves the working tree as it was."""
    folder = (
        SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1" else Path(tempfile.gettempdir()) / "shop-screens"
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if full_page:
        height = driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
        width = driver.execute_script("return window.innerWidth")
        driver.set_window_size(max(width, 360), min(height + 120, 4000))
    driver.save_screenshot(str(path))
    return path
