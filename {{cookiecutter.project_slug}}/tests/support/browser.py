"""The HTML pages as people see them: opened in a real headless Chromium (through
Playwright, with the machine's own browser: nothing is downloaded), with what went wrong.

`chromium()` finds Debian's `chromium` (or a Chrome on PATH), installs Debian's package
where it is missing and the tests run as root with apt, and otherwise skips with the reason.
`look_at(page)` opens a file offline and returns what the page did: console errors, requests
that tried to leave the file, and each chart's size on screen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import ViewportSize, sync_playwright

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "chromium"]
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# Where the docs' screenshots come from: set to a folder to keep each page's screenshot.
SCREENSHOTS = os.environ.get("PAGE_SCREENSHOTS")


def _found() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def chromium() -> str:
    """The browser's path; installed with apt where missing (root only), else a skip saying why."""
    found = _found()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        # Two bakes' tests may get here at once: apt waits for the other's lock.
        subprocess.run(INSTALL, capture_output=True, timeout=900, check=False)
        found = _found()
    if found is None:
        pytest.skip("no Chromium on PATH and it could not be installed: `apt-get install chromium` runs these checks")
    return found


@dataclass(frozen=True)
class Seen:
    """What a page did in the browser."""

    problems: list[str]  # console errors and warnings, uncaught exceptions
    outside: list[str]  # requests for anything but the file itself
    charts: list[tuple[float, float]]  # each <svg>'s width and height on the page, in pixels
    hidden_charts: int  # <svg> elements present but not visible
    screenshot: Path


def look_at(page: Path, screenshot: Path) -> Seen:
    """Open `page` in headless Chromium with the network off, scroll through it, and
    screenshot the first screenful to `screenshot` (and to PAGE_SCREENSHOTS when set)."""
    problems: list[str] = []
    requests: list[str] = []
    url = page.resolve().as_uri()
    # Root has no user namespace for Chromium's sandbox; the page is our own file, offline.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=args)
        try:
            context = browser.new_context(offline=True, viewport=VIEWPORT)
            tab = context.new_page()
            tab.on(
                "console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in {"error", "warning"} else None
            )
            tab.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(url, wait_until="load")
            svgs = tab.locator("svg")
            boxes = [svgs.nth(i).bounding_box() for i in range(svgs.count())]
            hidden = sum(1 for i in range(svgs.count()) if not svgs.nth(i).is_visible())
            tab.screenshot(path=str(screenshot))
        finally:
            browser.close()
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(screenshot, Path(SCREENSHOTS) / screenshot.name)
    charts = [(box["width"], box["height"]) if box else (0.0, 0.0) for box in boxes]
    return Seen(problems, [r for r in requests if r != url], charts, hidden, screenshot)
