"""Fixtures of the UI tests: Debian's Chromium via Playwright, a fresh tab per test, screenshots.

``browser`` is module-scoped (Playwright's sync API allows one live instance per thread; other test modules
open their own). Skipped with the reason when /usr/bin/chromium (scripts/install-system-deps.sh) or the
playwright package (a dev dependency; never ``playwright install``) is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.ui._ui import CHROMIUM, LAUNCH_ARGS, SCREENSHOTS, Tab


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (scripts/install-system-deps.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (a dev "
                                   "dependency: pip install playwright; never `playwright install`)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def tab(browser: Any) -> Iterator[Tab]:
    """A fresh tab at 1366x800 (a laptop); read ``tab.errors`` to assert the page ran cleanly."""
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield Tab(page)
    context.close()


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot as ``screenshots/ui/NAME.png``; returns its path."""

    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
