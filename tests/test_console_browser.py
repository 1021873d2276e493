"""The kiosk console end to end: a real node under gunicorn (``init --demo``, keys configured), the page in
headless Chromium at kiosk and phone sizes, in English and Chinese, checked by axe-core.

One node serves the module; a second, keyless one on a copy of its data checks the loopback case. Each
test opens a fresh browser context, so the keys typed in one never reach another (session storage).
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3

import pytest
import requests
from click.testing import CliRunner

from tests.conftest import ADMIN_KEY, CLIENT_KEY
from tests.console_browser import SIZES, OffHostGuard, artifacts_dir, launch, serious_violations
from tests.servers import gunicorn_node, wait_until

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in the dev extra (make venv-test)")
pytestmark = pytest.mark.slow

from edge.console import STATIC  # noqa: E402
from edge.paths import models_lite_dir  # noqa: E402

DEMO = models_lite_dir() / "demo_catalog"
SHIPPED = models_lite_dir() / "storefront-vision"
NEXT_VERSION = "1.3.1"
ZH = json.loads((STATIC / "i18n" / "zh.json").read_text())
EN = json.loads((STATIC / "i18n" / "en.json").read_text())
VIEWS = {"search": "#view-search h2", "catalog": "#view-catalog .results .card", "status": "#view-status .tiles .tile",
         "bundles": "#view-bundles .bundle-line", "sync": "#view-sync .facts dt", "voice": "#view-voice h2",
         "fraud": "#view-fraud form"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _cli(data, *args):
    from edge.cli.main import cli

    result = CliRunner().invoke(cli, ["--data-dir", str(data), *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def _next_bundle(folder, data):
    """The shipped bundle again as 1.3.1, signed with a key this node trusts (so staff can switch)."""
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("manifest.json", "manifest.sig"))
    spec = json.loads((folder / "bundle.json").read_text())
    (folder / "bundle.json").write_text(json.dumps({**spec, "version": NEXT_VERSION}))
    _cli(data, "keys", "generate", "--name", "console-test")
    _cli(data, "bundle", "build", folder)
    _cli(data, "bundle", "sign", folder, "--key", data / "keys" / "console-test.key")
    _cli(data, "bundle", "install", folder, "--no-activate")


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    """A data folder as `make run` makes it, plus bundle 1.3.1 installed but not active; and a copy of it."""
    root = tmp_path_factory.mktemp("console")
    data = root / "var"
    _cli(data, "init", "--demo")
    _next_bundle(root / "bundle-next", data)
    shutil.copytree(data, root / "var-keyless")
    return data


@pytest.fixture(scope="module")
def node(demo_data):
    env = {"STOREFRONT_EDGE_CLIENT_KEY": CLIENT_KEY, "STOREFRONT_EDGE_ADMIN_KEY": ADMIN_KEY}
    with gunicorn_node(demo_data, env=env, workers=2, log=demo_data.parent / "node.log") as (base, _):
        wait_until(f"{base}/readyz", 200, timeout=60, in_a_row=6)
        yield base


@pytest.fixture(scope="module")
def browser():
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def open_console(browser):
    """Factory: a fresh context at a size, the console loaded, keys typed in when asked; no off-host request."""
    contexts, guards = [], []

    def open_(base, size="kiosk", keys=(CLIENT_KEY, None)):
        context = browser.new_context(**SIZES[size], locale="en-US")
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        guard = OffHostGuard(base)
        guard.watch(page)
        guards.append(guard)
        page.goto(f"{base}/")
        page.wait_for_selector("body[data-ready=true]")
        if keys[0]:
            enter_keys(page, *keys)
        return page

    yield open_
    for context in contexts:
        context.close()
    assert [url for g in guards for url in g.elsewhere] == [], "the console asked another host"


def enter_keys(page, client=None, admin=None, accepted=True):
    """Type keys into the keys dialog (open already, or about to open) and save."""
    page.wait_for_selector("#keys-dialog[open]")
    if client:
        page.fill("#client-key", client)
    if admin:
        page.fill("#admin-key", admin)
    page.click("#keys-dialog button[value=save]")
    if accepted:
        page.wait_for_selector("#keys-dialog", state="hidden")


def shoot(page, name):
    """Save what the screen shows now (the viewport, as a person at that screen sees it)."""
    page.screenshot(path=str(artifacts_dir() / f"{name}.png"))


def _product():
    """A demo catalog item and one of its real photos."""
    with open(DEMO / "catalog.csv", newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["sku"] == "Granny-Smith")
    return row, DEMO / row["images"].split(";")[1]


def test_photo_search_finds_the_product_and_a_click_posts_a_view_event(node, demo_data, open_console):
    row, photo = _product()
    page = open_console(node, keys=(None, None))
    enter_keys(page, client="not-the-key", accepted=False)
    page.wait_for_selector(f"#keys-dialog[open] #keys-reason:has-text('{EN['keys.rejected']}')")
    enter_keys(page, client=CLIENT_KEY)
    assert CLIENT_KEY not in page.content()

    page.set_input_files("#search-photo", str(photo))
    page.wait_for_selector(".preview-image[src^='blob:']")
    page.click(".search-button")
    first = page.locator("#view-search .results .card").first
    first.wait_for()
    assert first.get_attribute("data-sku") == row["sku"]
    assert row["title"] in first.inner_text() and "SEK" in first.inner_text() and "score" in first.inner_text()
    page.wait_for_selector("#view-search .results .card img[src^='blob:']")
    shoot(page, "search-result-kiosk-en")
    assert serious_violations(page) == []

    with page.expect_response(lambda r: r.url.endswith("/v1/events")) as viewed:
        first.click()
    assert viewed.value.status == 201
    view_id = viewed.value.json()["id"]
    chip = page.locator(f".chip[data-event-id='{view_id}']")
    chip.wait_for()
    assert chip.get_attribute("data-kind") == "view" and row["title"] in chip.inner_text()
    page.wait_for_selector("#item-stock:not(:empty)")
    shoot(page, "item-dialog-kiosk-en")
    assert serious_violations(page) == []

    with page.expect_response(lambda r: r.url.endswith("/v1/events")) as carted:
        page.click("#item-cart")
    cart_id = carted.value.json()["id"]
    page.locator(".chips .chip").first.wait_for()
    page.wait_for_selector(f".chips .chip:first-child[data-event-id='{cart_id}'][data-kind=cart]")
    with sqlite3.connect(demo_data / "store.db") as db:
        stored = {i: (k, json.loads(p)) for i, k, p in db.execute("SELECT id, kind, payload FROM events WHERE id IN (?, ?)", [view_id, cart_id])}
    assert stored[view_id][0] == "view" and stored[cart_id][0] == "cart"
    assert stored[view_id][1]["sku"] == row["sku"] and stored[view_id][1]["source"] == "visual_search"
    assert stored[view_id][1]["session"] == stored[cart_id][1]["session"]


def test_the_recommendation_strip_follows_the_session(node, open_console):
    page = open_console(node)
    page.goto(f"{node}/#catalog")
    card = page.locator("#view-catalog .results .card").first
    card.wait_for()
    opened = card.get_attribute("data-sku")
    with page.expect_response(lambda r: "/v1/recommendations" in r.url and f"sku={opened}" in r.url) as answered:
        card.click()
    assert answered.value.status == 200
    page.wait_for_selector(f".recs-strip[data-anchor='{opened}'] .rec-chip")
    first = page.locator(".recs-strip .rec-chip").first
    picked = first.get_attribute("data-sku")
    assert picked != opened and first.get_attribute("data-reason") in {"co-visited", "similar", "sequence", "popular", "new item"}
    before = page.locator(".recs-strip .rec-chip").evaluate_all("els => els.map(e => e.dataset.sku)")
    page.keyboard.press("Escape")
    page.wait_for_selector("#item-dialog", state="hidden")
    with page.expect_response(lambda r: r.url.endswith("/v1/events")) as viewed:
        first.click()
    assert viewed.value.status == 201
    page.wait_for_selector(f".recs-strip[data-anchor='{picked}'] .rec-chip")
    after = page.locator(".recs-strip .rec-chip").evaluate_all("els => els.map(e => e.dataset.sku)")
    assert after != before and picked not in after, "the strip follows the item just opened"
    shoot(page, "recommendations-strip-kiosk-en")
    assert serious_violations(page) == []


@pytest.mark.parametrize("size", ["kiosk", "phone"])
def test_every_view_in_english_and_chinese_passes_axe(node, open_console, size):
    page = open_console(node, size, keys=(CLIENT_KEY, ADMIN_KEY))
    problems = {}
    for lang in ("en", "zh-CN"):
        if lang == "zh-CN":
            page.click(".lang-button[data-lang=zh-CN]")
            page.wait_for_selector("html[lang=zh-CN]")
            assert page.inner_text(".brand h1") == ZH["app.title"]
            assert page.locator(".lang-button[data-lang=zh-CN]").get_attribute("aria-pressed") == "true"
        for view, ready in VIEWS.items():
            page.click(f"#tab-list a[href='#{view}']")
            page.wait_for_selector(ready)
            assert page.evaluate("document.activeElement.tagName") == "H2", "the view's heading takes the focus"
            if view == "search":
                page.fill("#search-text", "apple")
                page.click(".search-button")
                page.wait_for_selector("#view-search .results .card img[src^='blob:']")
            shoot(page, f"{view}-{size}-{lang}")
            problems.update({f"{view}/{lang}/{v['id']}": v for v in serious_violations(page)})
            if view == "catalog":
                _check_item_dialog(page, f"{size}-{lang}", problems)
    assert problems == {}
    assert page.inner_text("#view-sync h2") == ZH["sync.title"]


def _spoken_wav(path, text):
    """A WAV of ``text`` from espeak-ng (22,050 Hz), as a kiosk user might upload it."""
    import subprocess

    subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "160", "-w", str(path), text], check=True, timeout=60)
    return path


def test_voice_panel_sends_a_wav_and_shows_transcript_intent_and_reply(node, open_console, tmp_path):
    page = open_console(node)
    page.click("#tab-list a[href='#voice']")
    with page.expect_response(lambda r: "/v1/voice/turn" in r.url) as answered:
        page.set_input_files("#voice-file", str(_spoken_wav(tmp_path / "ask.wav", "do you have oat milk")))
    assert answered.value.status == 200
    page.wait_for_selector("#view-voice .voice-transcript:has-text('oat milk')")
    assert page.inner_text("#view-voice .voice-intent") == "ProductAvailability"
    assert "Oat" in page.inner_text("#view-voice .voice-answer")
    page.wait_for_selector("#view-voice audio.voice-player[src^='blob:']")
    shoot(page, "voice-kiosk-en")
    assert serious_violations(page) == []
    page.fill("#voice-text", "I want to speak to a person")
    page.click(".voice-ask")
    page.wait_for_selector("#view-voice .voice-handoff .error")


def test_voice_panel_records_the_microphone_as_a_16_khz_wav(node, open_console):
    page = open_console(node)
    page.context.grant_permissions(["microphone"])
    page.click("#tab-list a[href='#voice']")
    page.click(".voice-record")
    page.wait_for_selector(".voice-record[aria-pressed=true]")
    page.wait_for_timeout(1200)
    with page.expect_response(lambda r: "/v1/voice/turn" in r.url) as answered:
        page.click(".voice-record")
    assert answered.value.request.headers["content-type"] == "audio/wav"
    turn = answered.value.json()  # Chromium's fake microphone plays a beep: heard as nothing the kiosk knows
    assert answered.value.status == 200, turn
    assert turn["audio"]["sample_rate"] == 16000 and turn["audio"]["channels"] == 1 and turn["audio"]["seconds"] > 0.8
    page.wait_for_selector("#view-voice .voice-engine")


def test_camera_capture_takes_a_photo_and_searches_with_it(node, open_console):
    page = open_console(node, "phone")
    page.context.grant_permissions(["camera"])
    page.click(".camera-button")
    page.wait_for_selector(".camera button.primary:focus")  # focused once the video plays
    page.locator(".camera button.primary").click()
    page.wait_for_selector(".preview-image[src^='blob:']")
    assert page.locator(".camera").is_hidden(), "the camera closes once the photo is taken"
    with page.expect_response(lambda r: r.url.endswith("/v1/visual-search")) as searched:
        page.click(".search-button")
    assert searched.value.status == 200 and searched.value.json()["items"]
    page.locator("#view-search .results .card").first.wait_for()


def _check_item_dialog(page, name, problems):
    """Open the first catalog item by keyboard, check it, close it with Escape."""
    page.locator("#view-catalog .results .card").first.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#item-dialog[open] #item-stock:not(:empty)")
    page.wait_for_selector("#item-image[src^='blob:']")
    shoot(page, f"item-{name}")
    problems.update({f"item/{name}/{v['id']}": v for v in serious_violations(page)})
    page.keyboard.press("Escape")
    page.wait_for_selector("#item-dialog", state="hidden")


def test_staff_bundle_view_activates_and_rolls_back_with_the_admin_key(node, open_console):
    page = open_console(node)
    page.click("#tab-list a[href='#bundles']")
    page.wait_for_selector("#keys-dialog[open]")
    assert EN["keys.need_admin"] in page.inner_text("#keys-reason")
    enter_keys(page, admin=ADMIN_KEY)
    next_row = page.locator(f"#view-bundles tr[data-version='{NEXT_VERSION}']")
    next_row.wait_for()
    shipped = requests.get(f"{node}/readyz", timeout=5).json()["bundles"]["storefront-vision"]["version"]
    assert page.locator(f"#view-bundles tr[data-version='{shipped}'] .ok").count() == 1

    next_row.get_by_role("button", name=f"Activate storefront-vision {NEXT_VERSION}").click()
    page.wait_for_selector(f"#view-bundles tr[data-version='{NEXT_VERSION}'] .ok")
    assert requests.get(f"{node}/v1/admin/bundles", headers=ADMIN, timeout=5).json()["active"]["storefront-vision"] == NEXT_VERSION
    shoot(page, "bundles-activated-kiosk-en")

    page.get_by_role("button", name=f"Roll back to {shipped}").click()
    page.wait_for_selector(f"#view-bundles tr[data-version='{shipped}'] .ok")
    assert requests.get(f"{node}/v1/admin/bundles", headers=ADMIN, timeout=5).json()["active"]["storefront-vision"] == shipped
    _wait_for_bundle(node, shipped)

    page.click("#tab-list a[href='#sync']")
    page.wait_for_selector("#view-sync .facts dd")
    pending = requests.get(f"{node}/v1/admin/sync/status", headers=ADMIN, timeout=5).json()["pending_changes"]
    facts = page.locator("#view-sync .facts").inner_text()
    assert f"{EN['sync.pending']}\n{pending}" in facts and EN["sync.joined_no"] in facts


def test_staff_fraud_panel_checks_a_payment_and_shows_the_decision(node, open_console):
    page = open_console(node, keys=(CLIENT_KEY, ADMIN_KEY))
    page.click("#tab-list a[href='#fraud']")
    page.fill("#fraud-amount", "42.50")
    page.fill("#fraud-account-id", "console-acct")
    page.fill("#fraud-device-id", "console-device")
    page.fill("#fraud-card-hash", "9f86d081884c7d65")
    page.click("#view-fraud button[type=submit]")
    page.wait_for_selector("#view-fraud .decision")
    decision = page.inner_text("#view-fraud .decision")
    assert any(EN[f"fraud.decision_{d}"] in decision for d in ("allow", "review", "block")) and "score" in decision
    shoot(page, "fraud-decision-kiosk-en")
    page.fill("#fraud-card-hash", "4111111111111111")
    page.click("#view-fraud button[type=submit]")
    page.wait_for_selector("#view-fraud .message.error")
    assert "raw card number" in page.inner_text("#view-fraud .message.error")
    assert page.locator("#view-fraud .decision").count() == 0


def _wait_for_bundle(base, version, timeout=60):
    """Bounded wait until every worker serves ``version`` (several /readyz answers in a row)."""
    import time

    deadline, streak = time.monotonic() + timeout, 0
    while time.monotonic() < deadline and streak < 6:
        answer = requests.get(f"{base}/readyz", timeout=5)
        streak = streak + 1 if answer.status_code == 200 and answer.json()["bundles"]["storefront-vision"]["version"] == version else 0
        time.sleep(0.1)
    assert streak >= 6, f"the node did not come back to bundle {version}"


def test_status_panel_shows_readiness_rate_and_latency(node, open_console):
    page = open_console(node)
    page.click("#tab-list a[href='#status']")
    page.wait_for_selector("#view-status .tiles .tile")
    ready = requests.get(f"{node}/readyz", timeout=5).json()
    assert f"storefront-vision {ready['bundles']['storefront-vision']['version']}" in page.inner_text("#view-status .tiles")
    for plugin in ("catalog", "events", "visual_search"):
        row = page.locator("#view-status tr", has=page.locator(f"th:text-is('{plugin}')"))
        assert EN["status.ready"] in row.inner_text()
    for _ in range(5):
        assert requests.post(f"{node}/v1/visual-search", json={"q": "milk"}, headers=ADMIN, timeout=10).status_code == 200
    page.wait_for_timeout(1000)
    page.click("#view-status button.secondary")
    page.wait_for_selector("#view-status .tiles:not([data-window-seconds='0'])")
    assert float(page.locator("#view-status .tile-value").nth(1).inner_text()) > 0
    assert page.locator("#view-status table.data th:text-is('/v1/visual-search')").count() == 1
    shoot(page, "status-rate-kiosk-en")


def test_console_needs_no_key_on_a_loopback_node_without_keys(demo_data, open_console):
    with gunicorn_node(demo_data.parent / "var-keyless", workers=1) as (base, _):
        page = open_console(base, "phone", keys=(None, None))
        page.fill("#search-text", "milk")
        page.click(".search-button")
        page.wait_for_selector("#view-search .results .card img[src^='blob:']")
        page.click("#tab-list a[href='#bundles']")
        page.wait_for_selector("#view-bundles .bundle-line")
        assert page.locator("#keys-dialog[open]").count() == 0
        shoot(page, "bundles-keyless-phone-en")
