"""Debian's chromium, driven by selenium through chromedriver: how the explain page is
tested and photographed. Nothing is downloaded; a missing piece is named."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> str | None:
    """Why no browser can be driven here (what to install), or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install {package})"
    return None


class Chromium:
    """A headless chromium with a fresh profile, closed (and the profile removed) on
    exit: ``with Chromium() as driver: driver.get(url)``. With ``phone``, a phone's
    screen of ``width`` x ``height`` CSS pixels (mobile emulation: touch, device
    pixel ratio 3, pages laid out by their viewport meta)."""

    def __init__(self, width: int = 1400, height: int = 1000, phone: bool = False) -> None:
        self.size = (width, height)
        self.phone = phone
        self.profile = ""
        self.driver = None

    def __enter__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="tapegrad-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={self.profile}",
            f"--window-size={self.size[0]},{self.size[1]}",
        ):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        if self.phone:
            metrics = {"width": self.size[0], "height": self.size[1], "pixelRatio": 3.0}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        return self.driver

    def __exit__(self, *exc) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def screenshot(page: Path, png: Path, steps: int, select: str | None = None) -> Path:
    """Open ``page``, press "next" ``steps`` times, click the Value named ``select``
    (its history shows beside the graph) and save the window as ``png``."""
    from selenium.webdriver.common.by import By

    with Chromium(width=1700, height=1150) as driver:
        driver.get(Path(page).resolve().as_uri())
        button = driver.find_element(By.ID, "next")
        for _ in range(steps):
            button.click()
        if select is not None:
            driver.find_element(By.CSS_SELECTOR, f'.value[data-name="{select}"]').click()
        driver.save_screenshot(str(png))
    return png
