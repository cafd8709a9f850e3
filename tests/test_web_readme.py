"""Issue #16's "screenshots in the README": the README shows the web pages as the browser test photographs them.

tests/test_browser_web.py takes the pictures (into docs/screenshots when ``HUIKUAN_SCREENSHOTS``
names it); this checks, without a browser, that the README's images are there, are PNGs,
and that those of the web pages are ones the browser test retakes, so they cannot go stale unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def test_the_readme_shows_the_web_pages_that_the_browser_test_photographs():
    images = re.findall(r"!\[[^\]]+\]\((docs/screenshots/[^)\s]+)\)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert images and all((ROOT / image).read_bytes()[:8] == PNG for image in images), images
    web = {Path(image).name for image in images if Path(image).name.startswith("web-")}
    assert web == {"web-approval.png", "web-approval-list.png", "web-statement.png"}  # the approver, the list, the customer
    taken = set(re.findall(r'shot\(page, tmp_path, "([^"]+)"\)', (ROOT / "tests" / "test_browser_web.py").read_text(encoding="utf-8")))
    assert web <= taken
