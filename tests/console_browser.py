"""Headless Chromium for the console tests: Playwright drives Debian's ``chromium`` (Playwright's own
browser download is never used), axe-core checks accessibility, screenshots go to an artefacts folder.

Screenshots land in ``test-artifacts/console/`` at the repository root (ignored by git), or in
``$STOREFRONT_EDGE_TEST_ARTIFACTS/console/`` when that is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KIOSK = {"viewport": {"width": 1080, "height": 1920}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
SIZES = {"kiosk": KIOSK, "phone": PHONE}
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str | None:
    """The system Chromium (Debian package ``chromium``), or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def artifacts_dir() -> Path:
    """Where screenshots go (created)."""
    base = Path(os.environ.get("STOREFRONT_EDGE_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder = base / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(playwright):
    """Headless Chromium from Debian; skips the test with a reason when it is not installed."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (make test installs it as root: apt-get install chromium)")
    # A fake camera (Chromium's test pattern) lets the getUserMedia capture path run headless.
    args = ["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    return playwright.chromium.launch(executable_path=executable, headless=True, args=args)


def axe_script() -> str:
    """axe-core's axe.min.js (MPL-2.0) as shipped inside the pinned axe-playwright-python wheel."""
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def serious_violations(page) -> list[dict]:
    """axe-core's violations of impact serious or critical on ``page`` as it is now (WCAG 2.x A and AA)."""
    page.evaluate(axe_script())
    results = page.evaluate("""() => axe.run(document, {
        resultTypes: ['violations'],
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']},
    })""")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["html"][:160] for n in v["nodes"][:3]]}
            for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]


class OffHostGuard:
    """Records every request a page makes that is not to ``base`` (nor a blob:/data: URL)."""

    def __init__(self, base: str):
        self.base, self.elsewhere = base.rstrip("/") + "/", []

    def watch(self, page) -> None:
        page.on("request", self._seen)

    def _seen(self, request) -> None:
        url = request.url
        if not (url.startswith(self.base) or url.startswith(("blob:", "data:"))):
            self.elsewhere.append(url)
