"""The kiosk console's files as the node serves them: security headers, only this node's assets, safe file
routes, no key in any of them, and string catalogues that cover the page in both languages.

The console in a real browser is in ``test_console_browser.py``.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from edge.console import STATIC
from tests.conftest import ADMIN_KEY, CLIENT_KEY

CATALOGUES = {"en": STATIC / "i18n" / "en.json", "zh-CN": STATIC / "i18n" / "zh.json"}
FILE_NAME = re.compile(r"\.(js|json|css|svg|html|jpg|png)$")


class _Page(HTMLParser):
    """Collects the page's asset references and any text not given by a catalogue key."""

    def __init__(self):
        super().__init__()
        self.assets, self.text, self._stack = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.assets += [attrs[a] for a in ("src", "href") if a in attrs and tag in ("script", "link", "img")]
        if tag not in ("meta", "link", "img", "input", "br"):
            self._stack.append(tag)

    def handle_endtag(self, tag):
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data):
        if data.strip() and not {"script", "style"} & set(self._stack):
            self.text.append(data.strip())


def _parsed_page() -> _Page:
    page = _Page()
    page.feed((STATIC / "index.html").read_text())
    return page


def _used_keys() -> set:
    keys = set(re.findall(r'data-i18n(?:-attr)?="(?:[\w-]+:)?([\w.]+)"', (STATIC / "index.html").read_text()))
    for script in (STATIC / "js").rglob("*.js"):
        literals = re.findall(r"'([a-z]+(?:\.[a-z0-9_]+)+)'", script.read_text())
        keys |= {k for k in literals if not FILE_NAME.search(k)}
    return keys


def test_page_is_served_with_a_policy_that_allows_only_this_node(client):
    with client.get("/") as response:
        response.get_data()
    assert response.status_code == 200 and response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "script-src 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assets = _parsed_page().assets
    assert assets and all(not re.match(r"^([a-z]+:)?//", a) for a in assets), f"an asset from another host: {assets}"
    for asset in assets:
        with client.get(f"/{asset}") as answer:
            assert answer.status_code == 200, asset


def test_no_served_console_file_holds_a_key_or_another_host(client):
    for path in sorted(p for p in STATIC.rglob("*") if p.is_file()):
        relative = path.relative_to(STATIC).as_posix()
        with client.get("/" if relative == "index.html" else f"/console/{relative}") as answer:
            body = answer.get_data(as_text=True)
        assert CLIENT_KEY not in body and ADMIN_KEY not in body, relative
        hosts = re.findall(r"https?://[^\s'\"<>)]+", body)
        assert [h for h in hosts if not h.startswith("http://www.w3.org/")] == [], relative


@pytest.mark.parametrize("path", ["/console/../__init__.py", "/console/%2e%2e/__init__.py", "/console/js/../../__init__.py",
                                  "/console/..%2f__init__.py", "/console/missing.js", "/console//etc/passwd"])
def test_console_file_route_refuses_traversal_and_unknown_files(client, path):
    with client.get(path, follow_redirects=True) as response:
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_catalogues_hold_the_same_strings_with_the_same_placeholders():
    en, zh = (json.loads(p.read_text()) for p in CATALOGUES.values())
    assert set(en) == set(zh)
    for key in en:
        assert set(re.findall(r"\{\w+\}", en[key])) == set(re.findall(r"\{\w+\}", zh[key])), key
        assert zh[key].strip(), key
    translated = [k for k in en if en[k] != zh[k]]
    assert len(translated) >= len(en) - 2, "only the language names may read the same in both catalogues"


def test_every_string_of_the_page_comes_from_the_catalogues():
    en = json.loads(CATALOGUES["en"].read_text())
    used = _used_keys()
    assert used - set(en) == set(), "keys used by the page but missing from the catalogues"
    assert set(en) - used == set(), "catalogue strings the page never uses"
    assert _parsed_page().text == [], "text written into index.html instead of a catalogue"
