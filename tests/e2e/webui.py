"""Headless Chromium for the end-to-end web UI checks: open a page, wait for what it must
show, keep a screenshot.

A web UI joins the browser test (tests/e2e/test_lab_web.py) with one `Page` per URL a
user is sent to: the texts the rendered page must show (document.body.innerText, so a
JavaScript UI is checked after it rendered, not its raw HTML) and, where a page hides them
behind a click, the XPath of what to click first. `Browser.check(page)` opens it, clicks,
waits (bounded) for every text, writes `<out_dir>/<page.name>.png` and returns the text.

Chromium and its driver are Debian's (`chromium`, `chromium-driver`:
tests/tools/install_system_deps.sh), driven by selenium (requirements/test.txt); nothing is
downloaded at run time. ACCELMON_CHROMIUM / ACCELMON_CHROMEDRIVER override the paths.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time

CHROMIUM = os.environ.get("ACCELMON_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("ACCELMON_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
WINDOW = (1400, 1000)
MAX_SCREENSHOT_HEIGHT = 4000


@dataclasses.dataclass(frozen=True)
class Page:
    """One URL a user is sent to and what it must show once rendered."""

    name: str  # screenshot file name (without .png)
    url: str
    expect: tuple[str, ...]  # texts that must all appear in the rendered page
    # after the page loaded, in order: (XPath, None) clicks it, (XPath, text) types into it
    steps: tuple[tuple[str, str | None], ...] = ()
    timeout: float = 30.0


def missing():
    """Why the browser cannot run here, or None."""
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        return "selenium is not installed (pip install -r requirements/test.txt)"
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return "%s not found (apt-get install %s; tests/tools/install_system_deps.sh)" % (path, pkg)
    return None


def _safe(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class Browser:
    """A headless Chromium session (one per test session is enough: pages are independent)."""

    def __init__(self, out_dir):
        from selenium import webdriver  # noqa: PLC0415
        from selenium.webdriver.chrome.options import Options  # noqa: PLC0415
        from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

        self.out_dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",  # root in CI and in the lab
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=%d,%d" % WINDOW,
        ):
            opts.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
        self.driver.set_page_load_timeout(30)

    def close(self):
        self.driver.quit()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def text(self):
        return self.driver.execute_script("return document.body ? document.body.innerText : ''") or ""

    def screenshot(self, name):
        """The whole page (up to MAX_SCREENSHOT_HEIGHT px) as <out_dir>/<name>.png."""
        height = self.driver.execute_script(
            "return Math.max(document.body ? document.body.scrollHeight : 0,"
            " document.documentElement ? document.documentElement.scrollHeight : 0)"
        )
        self.driver.set_window_size(WINDOW[0], min(max(int(height or 0), WINDOW[1]), MAX_SCREENSHOT_HEIGHT))
        path = os.path.join(self.out_dir, _safe(name) + ".png")
        self.driver.save_screenshot(path)
        self.driver.set_window_size(*WINDOW)
        return path

    def check(self, page):
        """Open page.url, run page.steps, wait until every page.expect text shows; the
        screenshot is kept either way. Returns the page's text; AssertionError with what is
        missing, the page's title and text, and the screenshot's path otherwise."""
        from selenium.webdriver.common.by import By  # noqa: PLC0415
        from selenium.webdriver.support import expected_conditions as ec  # noqa: PLC0415
        from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

        self.driver.get(page.url)
        deadline = time.monotonic() + page.timeout
        for xpath, keys in page.steps:
            remaining = max(deadline - time.monotonic(), 1.0)
            try:
                elem = WebDriverWait(self.driver, remaining).until(ec.element_to_be_clickable((By.XPATH, xpath)))
                if keys is None:
                    elem.click()
                else:
                    elem.clear()
                    elem.send_keys(keys)
            except Exception as exc:  # noqa: BLE001 (reported with the page below)
                shot = self.screenshot(page.name)
                raise AssertionError(
                    "%s: no element to %s at %s (%s); title %r; screenshot %s\n%s"
                    % (
                        page.url,
                        "click" if keys is None else "type into",
                        xpath,
                        type(exc).__name__,
                        self.driver.title,
                        shot,
                        self.text()[:3000],
                    )
                ) from None
        while True:
            text = self.text()
            lacking = [t for t in page.expect if t not in text]
            if not lacking or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        shot = self.screenshot(page.name)
        if lacking:
            raise AssertionError(
                "%s does not show %s after %.0f s; title %r; screenshot %s\npage text:\n%s"
                % (page.url, lacking, page.timeout, self.driver.title, shot, text[:3000])
            )
        return text
