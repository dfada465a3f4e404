"""Fixtures for the integration tests: Debian's chromium trusting the test CA, and the
README's screenshots, made by the browser tests."""

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_SECONDS = 20

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


@pytest.fixture(scope="session")
def chromium_home(cert_paths, tmp_path_factory) -> Path:
    """A HOME whose NSS database trusts the test CA, and nothing else of ours."""
    missing = [tool for tool in (CHROMIUM, "certutil") if not shutil.which(tool)]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: `make system-deps` installs the Debian "
            "packages chromium and libnss3-tools."
        )
    home = tmp_path_factory.mktemp("chromium-home")
    nssdb = home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    for command in (
        ["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"],
        # "C,,": a CA trusted to issue server certificates (the SSL trust slot only).
        ["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "idp-demo-test", "-i"]
        + [str(cert_paths.ca_cert)],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=30)
    return home


@contextmanager
def chromium_page(chromium_home: Path) -> Iterator[Page]:
    """A fresh chromium page; rows a test needs must exist before: Playwright's event loop
    then runs in this thread, where Django refuses ORM queries."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            env={**os.environ, "HOME": str(chromium_home)},
        )
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(WAIT_SECONDS * 1000)
            yield page
        finally:
            browser.close()


@pytest.fixture
def page(origins, seed_client, end_user, chromium_home) -> Iterator[Page]:
    """A chromium page, with the seed's client and the end user stored first."""
    with chromium_page(chromium_home) as page:
        yield page
