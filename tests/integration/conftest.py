"""Fixtures for the integration tests: the README's screenshots, made by the browser tests."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page

# The README shows these; `UPDATE_SCREENSHOTS=1 make test` (or pytest) rewrites them.
DOCS_SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
# What a person sees on a laptop, small enough to keep the PNGs in git.
VIEWPORT = {"width": 1000, "height": 700}


@pytest.fixture(scope="session")
def docs_screenshot_dir(tmp_path_factory) -> Path:
    """docs/screenshots/ when UPDATE_SCREENSHOTS=1 asks; else a throwaway folder (clean tree)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return DOCS_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def docs_screenshot(docs_screenshot_dir) -> Callable[..., Path]:
    """Save the page as it looks now as <name>.png: the viewport, or `clip` (page pixels)."""

    def save(page: Page, name: str, clip: dict[str, float] | None = None) -> Path:
        path = docs_screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), clip=clip, full_page=clip is not None)
        assert path.stat().st_size > 0
        return path

    return save
