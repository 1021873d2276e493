"""Fraud precheck: the route, bad input, card numbers, velocity, graph, lists, rules and the audit log."""

from __future__ import annotations

import json
import logging

import pytest

from plugins.fraud import expr, rules

T0 = 1_780_000_000


@pytest.fixture
def fraud_app(data_dir):
    from edge.app import create_app

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["events", "fraud"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY, "PLUGIN_CONFIG": {"fraud": {"clock": "payload", "refresh_seconds": 0}}},
                     watch=False)
    yield app
    app.extensions["storefront_edge"].close()


@pytest.fixture
def post(fraud_app, client_headers):
    client = fraud_app.test_client()

    def send(body, **kwargs):
        return client.post("/v1/fraud/precheck", json=body, headers=client_headers, **kwargs)

    return send


def payment(**overrides) -> dict:
    body = {"amount": 20.0, "currency": "USD", "account_id": "acct-1", "card_hash": "c0ffee00c0ffee00", "device_id": "dev-1",
            "ip": "10.1.2.3", "store_id": "store-1", "items": [{"sku": "sku-1", "qty": 2, "price": 10.0}], "timestamp": T0}
    return {**body, **overrides}


def db_of(app):
    return app.extensions["storefront_edge"].db()


def count(app, table: str) -> int:
    return db_of(app).execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_a_precheck_answers_with_its_reasons_and_logs_the_decision(fraud_app, post):
    response = post(payment())
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["decision"] == "allow" and 0 <= answer["score"] <= 100
    assert {"reasons", "rule_hits", "model_scores", "features", "latency_ms", "rules_version"} <= set(answer)
    assert answer["features"]["card_count_1m"] == 1 and answer["features"]["item_count"] == 2
    row = db_of(fraud_app).execute("SELECT decision, payload, amount FROM fraud_decisions WHERE id = ?", [answer["id"]]).fetchone()
    assert row[0] == "allow" and json.loads(row[1])["account_id"] == "acct-1" and row[2] == 20.0


def test_the_decision_log_is_append_only(fraud_app, post):
    post(payment())
    db = db_of(fraud_app)
    for statement in ("UPDATE fraud_decisions SET decision = 'block'", "DELETE FROM fraud_decisions"):
        with pytest.raises(Exception, match="append-only"):
            db.execute(statement)
    assert db.execute("SELECT decision FROM fraud_decisions").fetchone()[0] == "allow"


def test_a_retry_with_the_same_event_id_is_answered_from_the_log_and_counted_once(fraud_app, post):
    first = post(payment(event_id="pay-1")).get_json()
    again = post(payment(event_id="pay-1")).get_json()
    assert again["id"] == first["id"] and again["replayed"] is True and first["replayed"] is False
    assert count(fraud_app, "fraud_decisions") == 1
    assert post(payment(event_id="pay-2")).get_json()["features"]["card_count_1m"] == 2
    reused = post(payment(event_id="pay-1", amount=99.0))
    assert reused.status_code == 409 and reused.get_json()["error"]["code"] == "event_id_reused"


@pytest.mark.parametrize("where", [
    {"card_hash": "4111111111111111"}, {"items": [{"sku": "4111 1111 1111 1111"}]},
    {"features": {"x": 1.0}, "store_id": "5500-0000-0000-0004"}, {"email": "a@b.c", "extra": 4012888888881881},
])
def test_a_raw_card_number_anywhere_is_refused_and_never_stored_or_logged(fraud_app, post, where, caplog):
    caplog.set_level(logging.DEBUG)
    response = post(payment(**where))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "card_number_refused"
    digits = [c for c in json.dumps(where) if c.isdigit()]
    assert "".join(digits)[:12] not in response.get_data(as_text=True).replace(" ", "").replace("-", "")
    assert count(fraud_app, "fraud_decisions") == 0 and count(fraud_app, "fraud_rolling") == 0
    assert "4111" not in caplog.text and "5500" not in caplog.text and "4012888888881881" not in caplog.text


def test_numbers_that_fail_luhn_or_are_too_short_are_not_card_numbers(post):
    assert post(payment(store_id="4111111111111112", card_hash="deadbeef41111111111111111")).status_code == 200
    assert post(payment(store_id="12345678901")).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"currency": "USD"}, "amount"), (payment(amount="ten"), "amount"), (payment(amount=-5), "amount"),
    (payment(amount=5e9), "amount"), (payment(currency="XYZ"), "currency"), (payment(currency=5), "currency"),
    (payment(items=[{"sku": "a"}] * 201), "items"), (payment(ip="not-an-ip"), "ip"), (payment(account_id=["x"]), "account_id"),
    (payment(features={"V1": "x"}), "features.V1"), (payment(unknown=1), "unknown"), (payment(items=[{"qty": 1}]), "items.0.sku"),
])
def test_bad_input_is_refused_field_by_field_and_nothing_is_stored(fraud_app, post, body, field):
    response = post(body)
    assert response.status_code == 422, response.get_json()
    fields = [d["field"] for d in response.get_json()["error"]["details"]]
    assert field in fields
    assert count(fraud_app, "fraud_decisions") == 0 and count(fraud_app, "fraud_edges") == 0


def test_malformed_json_and_wrong_media_types_are_4xx(fraud_app, client_headers):
    client = fraud_app.test_client()
    assert client.post("/v1/fraud/precheck", data="{", content_type="application/json", headers=client_headers).status_code == 400
    assert client.post("/v1/fraud/precheck", data="x", content_type="text/plain", headers=client_headers).status_code == 415
    assert client.post("/v1/fraud/precheck", json=payment()).status_code == 401
    deep = "[" * 5000 + "]" * 5000
    assert client.post("/v1/fraud/precheck", data=deep, content_type="application/json", headers=client_headers).status_code == 400


def test_velocity_counts_and_sums_slide_over_each_window(post):
    for offset, amount in ((0, 1.0), (5, 2.0), (30, 4.0)):
        features = post(payment(timestamp=T0 + offset, amount=amount)).get_json()["features"]
    assert (features["card_count_1m"], features["card_sum_1m"]) == (3, 7.0)
    later = post(payment(timestamp=T0 + 120, amount=8.0)).get_json()["features"]
    assert later["card_count_1m"] == 1 and later["card_count_1h"] == 4 and later["card_sum_1h"] == 15.0
    next_day = post(payment(timestamp=T0 + 90_000, amount=1.0, device_id="dev-9")).get_json()["features"]
    assert next_day["card_count_24h"] == 1 and next_day["device_count_24h"] == 1 and next_day["ip_count_1h"] == 1


def test_velocity_is_one_rolling_row_per_entity_not_a_row_per_payment(fraud_app, post):
    from plugins.fraud import velocity

    for i in range(0, 3000, 10):
        post(payment(timestamp=T0 + i))
    assert count(fraud_app, "fraud_decisions") == 300
    assert count(fraud_app, "fraud_rolling") == 5  # card, device, IP, account, and the card node-wide
    blob = db_of(fraud_app).execute("SELECT state FROM fraud_rolling WHERE entity = 'default/card:c0ffee00c0ffee00'").fetchone()[0]
    minute, hour, day = (len(buckets) for buckets in velocity.unpack(blob))
    assert minute <= 8 and hour <= 51 and day <= 2  # buckets out of every window are dropped as payments arrive


def test_the_graph_counts_shared_devices_components_and_distance_to_known_fraud(fraud_app, post):
    for i in range(4):
        answer = post(payment(account_id=f"ring-{i}", device_id="shared-dev", card_hash=f"cardcard{i:08d}",
                              ip=f"10.9.0.{i}", timestamp=T0 + i)).get_json()
    assert answer["features"]["accounts_per_device"] == 4 and answer["features"]["component_size"] == 13
    assert answer["decision"] == "review" and "shared-device" in answer["rule_hits"]
    db = db_of(fraud_app)
    with db.conn:
        db["fraud_labels"].insert({"decision_id": "d-x", "verdict": "fraud", "account_id": "ring-0"})
    near = post(payment(account_id="ring-9", device_id="shared-dev", card_hash="cardcardzzzz", timestamp=T0 + 10)).get_json()
    assert near["features"]["fraud_distance"] == 2 and "known-fraud-neighbour" in near["rule_hits"]
    expired = post(payment(account_id="late", device_id="shared-dev", timestamp=T0 + 8 * 86400)).get_json()
    assert expired["features"]["accounts_per_device"] == 1 and expired["features"]["fraud_distance"] is None


def test_block_and_allow_lists_decide_with_allow_first(fraud_app, post):
    db = db_of(fraud_app)
    with db.conn:
        db["fraud_lists"].insert_all([{"id": "b1", "list": "block", "kind": "device", "value": "dev-bad"},
                                      {"id": "a1", "list": "allow", "kind": "email", "value": "vip@example.com"}])
    blocked = post(payment(device_id="dev-bad")).get_json()
    assert blocked["decision"] == "block" and blocked["reasons"][0]["code"] == "rule:block-listed"
    assert post(payment(email="VIP@example.com", account_id="acct-2")).get_json()["decision"] == "allow"


def test_a_card_testing_burst_is_blocked(post):
    answers = [post(payment(amount=1.0, timestamp=T0 + i)).get_json() for i in range(6)]
    assert [a["decision"] for a in answers[:4]] == ["allow"] * 4
    assert answers[4]["decision"] == "block" and answers[4]["reasons"][0]["code"] == "rule:card-testing-burst"


def test_rules_run_allow_then_block_then_review_and_the_first_match_decides():
    ruleset = rules.compile_rules([
        {"id": "r", "action": "review", "when": "amount > 10"},
        {"id": "b", "action": "block", "when": "amount > 100"},
        {"id": "a", "action": "allow", "when": "account_id == 'staff'"},
        {"id": "b2", "action": "block", "when": "amount > 50"},
    ])
    assert [r.id for r in ruleset.rules] == ["a", "b", "b2", "r"]
    assert ruleset.decide({"amount": 500, "account_id": "staff"})[0].id == "a"
    rule, hits = ruleset.decide({"amount": 500})
    assert rule.id == "b" and [h.id for h in hits] == ["b", "b2", "r"]
    assert ruleset.decide({"amount": 20})[0].id == "r" and ruleset.decide({"amount": 5})[0] is None


@pytest.mark.parametrize("text, value", [
    ("amount * 2 >= 40 and not blocklisted", True), ("currency in ['USD', 'EUR']", True), ("currency not in ['USD']", False),
    ("max(card_count_1m, device_count_1m) > 1", True), ("fraud_distance <= 2", False), ("-amount < 0", True),
    ("lower(email) == 'a@b.c'", True), ("amount / 0 > 1", False), ("(amount + 1) % 2 == 1", True),
])
def test_the_expression_language(text, value):
    env = {"amount": 20, "currency": "USD", "blocklisted": False, "card_count_1m": 1, "device_count_1m": 3,
           "fraud_distance": None, "email": "A@B.C"}
    assert expr.evaluate(expr.parse(text), env) is value


@pytest.mark.parametrize("text, problem", [
    ("amount.__class__", "unexpected"), ("__import__('os')", "unknown function"), ("amount >", "ends too early"),
    ("amount = 1", "unexpected"), ("open('x')", "unknown function"), ("amount[0]", "unexpected"), ("1 +" * 300 + "1", "at most"),
    ("a" * 2000, "at most"), ("amount > 1 1", "after the end"), ("`x`", "unexpected character"),
])
def test_the_expression_language_refuses_what_it_does_not_know(text, problem):
    with pytest.raises(expr.ExprError, match=problem):
        expr.parse(text)


def test_a_rule_file_with_errors_is_refused_with_every_error_listed(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: a, action: block, when: 'amont > 5'}\n  - {id: a, action: maybe, when: 'amount >'}\n"
                    "  - {id: c, action: review, when: 'amount > 5', colour: red}\n")
    with pytest.raises(rules.RuleSetError) as caught:
        rules.load_file(path)
    text = "\n".join(caught.value.errors)
    assert "unknown field(s) amont" in text and "action must be" in text and "ends too early" in text
    assert "used by an earlier rule" in text and "unknown key(s) colour" in text
    path.write_text("rules: [unclosed")
    with pytest.raises(rules.RuleSetError, match="does not parse"):
        rules.load_file(path)


def test_rules_install_refuses_a_bad_file_and_the_active_rules_keep_running(runner, data_dir, tmp_path, fraud_app, post):
    from edge.cli.main import cli

    good, bad = tmp_path / "good.json", tmp_path / "bad.yaml"
    good.write_text(json.dumps({"version": "v2", "rules": [{"id": "big", "action": "block", "when": "amount >= 500"}]}))
    bad.write_text("rules:\n  - {id: x, action: block, when: 'nope > 1'}\n  - {id: y, action: allow, when: '('}\n")
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "fraud", "rules", "install", str(good)])
    assert result.exit_code == 0, result.output
    assert post(payment(amount=600)).get_json()["decision"] == "block"
    result = runner.invoke(cli, ["--data-dir", str(data_dir), "fraud", "rules", "install", str(bad)])
    assert result.exit_code == 1 and "nope" in result.output and "rule 2 (y)" in result.output and "Traceback" not in result.output
    answer = post(payment(amount=600, account_id="other")).get_json()
    assert answer["decision"] == "block" and answer["rules_version"] == "v2"


def test_a_broken_rule_set_in_the_table_keeps_the_last_good_one_running(fraud_app, post, client_headers):
    db = db_of(fraud_app)
    with db.conn:
        db["fraud_rules"].insert({"id": "big", "action": "block", "expr": "amount >= 500", "version": "v3"})
    assert post(payment(amount=600)).get_json()["decision"] == "block"
    with db.conn:
        db["fraud_rules"].insert({"id": "broken", "action": "block", "expr": "amount >>> 1", "position": 1})
    assert post(payment(amount=700, account_id="x2")).get_json()["rules_version"] == "v3"
    listing = fraud_app.test_client().get("/v1/fraud/rules", headers=client_headers).get_json()
    assert listing["version"] == "v3" and any("broken" in e for e in listing["errors"])


@pytest.fixture
def two_store_app(data_dir):
    from edge.app import create_app

    from tests.cdn_support import store_config

    app = create_app(store_config(data_dir, PLUGINS=["events", "fraud"],
                                  PLUGIN_CONFIG={"fraud": {"clock": "payload", "refresh_seconds": 0}}), watch=False)
    yield app
    app.extensions["storefront_edge"].close()


def test_each_store_has_its_own_velocity_and_graph_and_a_card_is_also_counted_node_wide(two_store_app):
    from tests.cdn_support import ADMIN, bearer

    client = two_store_app.test_client()

    def send(store, **overrides):
        response = client.post(f"/v1/stores/{store}/fraud/precheck", json=payment(**overrides), headers=bearer(store))
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    for i in range(4):
        north = send("north", account_id=f"ring-{i}", device_id="shared-dev", timestamp=T0 + i, amount=10.0)
    assert north["features"]["card_count_1m"] == 4 and north["features"]["accounts_per_device"] == 4
    south = send("south", account_id="shopper", device_id="shared-dev", timestamp=T0 + 5, amount=3.0)["features"]
    assert (south["card_count_1m"], south["card_sum_1m"], south["device_count_1h"]) == (1, 3.0, 1)
    assert south["accounts_per_device"] == 1 and south["accounts_per_card"] == 1 and south["component_size"] == 4
    assert (south["node_card_count_1m"], south["node_card_sum_1m"]) == (5, 43.0), "the card across both stores"
    assert north["features"]["component_size"] == 7 and north["decision"] == "review"
    db = db_of(two_store_app)
    assert db.execute("SELECT store, COUNT(*) FROM fraud_decisions GROUP BY store ORDER BY store").fetchall() == [
        ("north", 4), ("south", 1)]
    assert {r[0] for r in db.execute("SELECT store FROM fraud_reviews")} == {"north"}
    plain = client.post("/v1/fraud/precheck", json=payment(), headers={"Authorization": f"Bearer {ADMIN}"})
    assert plain.status_code == 400 and plain.get_json()["error"]["code"] == "store_required"
    other = client.post("/v1/stores/south/fraud/precheck", json=payment(), headers=bearer("north"))
    assert other.status_code == 403


def test_known_fraud_is_known_in_every_store(two_store_app):
    from tests.cdn_support import bearer

    client = two_store_app.test_client()
    db = db_of(two_store_app)
    with db.conn:
        db["fraud_labels"].insert({"decision_id": "d-x", "verdict": "fraud", "device_id": "bad-dev"})
    for store in ("north", "south"):
        answer = client.post(f"/v1/stores/{store}/fraud/precheck", json=payment(device_id="bad-dev"), headers=bearer(store))
        assert answer.get_json()["features"]["fraud_distance"] == 1


@pytest.mark.parametrize("upkeep_seconds", [0.0, 0.05])
def test_old_windows_edges_and_graph_nodes_are_pruned_off_the_request_path(data_dir, client_headers, upkeep_seconds):
    import time

    from edge.app import create_app

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    config = {"clock": "payload", "refresh_seconds": 0, "prune_every": 3, "upkeep_seconds": upkeep_seconds}
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"fraud": config}}, watch=False)
    try:
        client = app.test_client()
        client.post("/v1/fraud/precheck", json=payment(), headers=client_headers)
        old = "SELECT COUNT(*) FROM fraud_nodes WHERE node LIKE '%acct-1' OR node LIKE '%dev-1'"
        assert count(app, "fraud_edges") == 6 and db_of(app).execute(old).fetchone()[0] == 2
        for i in range(3):
            client.post("/v1/fraud/precheck", headers=client_headers,
                        json=payment(account_id=f"late-{i}", card_hash=f"cafe{i:012d}", device_id=f"dev-late-{i}",
                                     ip=f"10.7.0.{i}", timestamp=T0 + 8 * 86400)).close()
        for _ in range(200):  # the upkeep thread's next tick (bounded wait)
            if db_of(app).execute(old).fetchone()[0] == 0:
                break
            time.sleep(0.02)
        db = db_of(app)
        assert db.execute(old).fetchone()[0] == 0 and count(app, "fraud_edges") == 18
        assert db.execute("SELECT COUNT(*) FROM fraud_rolling WHERE entity LIKE '%c0ffee00c0ffee00'").fetchone()[0] == 0
        assert db.execute("SELECT SUM(size) FROM fraud_components").fetchone()[0] == 12 == count(app, "fraud_nodes")
    finally:
        app.extensions["storefront_edge"].close()


def test_an_entity_shared_by_more_than_fanout_accounts_stops_joining_components(post):
    answers = [post(payment(account_id=f"guest-{i}", card_hash=f"cafecafe{i:08d}", device_id=f"phone-{i}", ip="10.0.0.1",
                            timestamp=T0 + i)).get_json()["features"] for i in range(52)]
    assert answers[49]["accounts_per_ip"] == 50 and answers[49]["component_size"] == 50 * 3 + 1
    assert answers[51]["accounts_per_ip"] == 52 and answers[51]["component_size"] == 3  # the shop's wifi joins no one


def test_one_upkeep_thread_per_worker_started_by_concurrent_first_prechecks_and_stopped_on_shutdown(data_dir, monkeypatch):
    import threading
    import time

    from edge.app import create_app
    from plugins.fraud import service, upkeep

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    slow_start = upkeep.Upkeep.start
    monkeypatch.setattr(upkeep.Upkeep, "start", lambda self: (time.sleep(0.05), slow_start(self))[1])
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"fraud": {"upkeep_seconds": 0.05}}}, watch=False)
    node = app.extensions["storefront_edge"]
    running = lambda: [t for t in threading.enumerate() if t.name == "fraud-upkeep" and t.is_alive()]  # noqa: E731
    before = len(running())
    try:
        callers = [threading.Thread(target=service.ensure_upkeep, args=(node,)) for _ in range(8)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        assert len(running()) == before + 1
    finally:
        node.close()
    assert len(running()) == before


def test_a_component_that_takes_in_known_fraud_is_walked_before_the_next_refresh(data_dir, client_headers):
    from edge.app import create_app

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"fraud": {"clock": "payload", "refresh_seconds": 3600}}}, watch=False)
    try:
        db = db_of(app)
        with db.conn:
            db["fraud_labels"].insert({"decision_id": "d-x", "verdict": "fraud", "device_id": "bad-dev"})
        client = app.test_client()

        def distance(**overrides):
            answer = client.post("/v1/fraud/precheck", json=payment(**overrides), headers=client_headers)
            assert answer.status_code == 200, answer.get_json()
            return answer.get_json()["features"]["fraud_distance"]

        assert distance(account_id="bystander", card_hash="beef0000beef0000", device_id="dev-b", ip="10.9.9.9") is None
        assert distance(account_id="ring-1", device_id="bad-dev", ip="10.0.0.1") == 1  # the known device joins the graph
        assert distance(account_id="ring-2", device_id="dev-2", ip="10.0.0.2") == 3  # card, ring-1, bad-dev
    finally:
        app.extensions["storefront_edge"].close()


def test_one_answer_of_those_in_flight_claims_a_due_prune(fraud_app, post):
    from plugins.fraud import service

    node = fraud_app.extensions["storefront_edge"]
    post(payment())
    assert not service.prune_due(node)
    for _ in range(node.plugin_config("fraud").prune_every - 1):
        service.tally(node, "payments").add()
    assert service.claim_prune(node) and not service.claim_prune(node) and not service.prune_due(node)


def test_racing_threads_lose_no_payment_from_the_prune_count_and_each_due_prune_is_claimed_once(fraud_app):
    import sys
    import threading

    from plugins.fraud import service

    node = fraud_app.extensions["storefront_edge"]
    counted = service.tally(node, "payments")
    threads, each = 8, 50_000
    claimed, start = [], threading.Barrier(threads)

    def answers():
        start.wait()
        mine = 0
        for _ in range(each):
            counted.add()  # what a precheck does once it has committed
            mine += counted.claim(3)  # what an answer or the upkeep thread does (claim_prune, every 3 payments)
        claimed.append(mine)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can: a count read, then written, loses updates
    try:
        workers = [threading.Thread(target=answers) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switching)
    assert sum(claimed) + counted.count == threads * each  # every payment claimed by one prune, or still counted


def test_the_prune_deletes_every_expired_row_behind_batches_of_refreshed_ones_and_no_live_row(data_dir, client_headers,
                                                                                             monkeypatch):
    from edge.app import create_app
    from plugins.fraud import service, velocity

    from tests.conftest import ADMIN_KEY, CLIENT_KEY

    monkeypatch.setattr(service, "PRUNE_BATCH", 8)  # small batches, so that a few payments fill several
    config = {"clock": "payload", "refresh_seconds": 0, "prune_every": 10_000_000, "upkeep_seconds": 0,
              "graph_ttl_hours": 1}
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["fraud"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY,
                      "PLUGIN_CONFIG": {"fraud": config}}, watch=False)
    node = app.extensions["storefront_edge"]
    client = app.test_client()

    def pay(group: str, i: int, ts: int) -> dict:
        body = payment(account_id=f"{group}-acct-{i}", card_hash=f"{group}card{i:08d}", device_id=f"{group}-dev-{i}",
                       ip=f"10.{ord(group)}.0.{i}", timestamp=ts)
        answer = client.post("/v1/fraud/precheck", json=body, headers=client_headers)
        assert answer.status_code == 200, answer.get_json()
        return answer.get_json()["features"]

    later = T0 + 3 * 86400
    try:
        for i in range(6):  # older rows first in the prune's index (their seen_hour), refreshed three days later
            pay("a", i, T0)
        for i in range(6):  # an hour younger, never seen again: expired by the time of the last payment
            pay("b", i, T0 + 3600)
        for i in range(6):
            pay("a", i, later)
        db = db_of(app)
        before = {table: count(app, table) for table in ("fraud_rolling", "fraud_edges", "fraud_nodes")}
        service.prune(node)
        cutoffs = {"fraud_rolling": later - velocity.LONGEST, "fraud_edges": later - 3600, "fraud_nodes": later - 3600}
        for table, cutoff in cutoffs.items():
            assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE last_seen < ?", [cutoff]).fetchone()[0] == 0, table
        after = {table: count(app, table) for table in before}
        assert after == {"fraud_rolling": 6 * 5, "fraud_edges": 6 * 6, "fraud_nodes": 6 * 4}  # group a's, every one
        assert before == {table: 2 * rows for table, rows in after.items()}
        assert db.execute("SELECT COUNT(*), SUM(size) FROM fraud_components WHERE size > 0").fetchone() == (6, 6 * 4)
        again = pay("a", 0, later + 60)  # the refreshed entities keep their windows (this payment and the last) and graph
        assert (again["card_count_1h"], again["card_count_24h"], again["component_size"]) == (2, 2, 4)
    finally:
        node.close()


def test_a_component_whose_nodes_all_come_back_stale_is_deleted_not_left_empty(fraud_app, post):
    db = db_of(fraud_app)
    for body in (payment(), payment(timestamp=T0 + 8 * 86400)):  # a week later: every node of the first is stale
        assert post(body).status_code == 200
    sizes = [row["size"] for row in db["fraud_components"].rows]
    assert sizes == [db["fraud_nodes"].count], sizes  # one component holding the nodes, no empty one left behind


def test_the_features_read_before_the_write_lock_are_those_the_payment_records_when_nothing_races_it(fraud_app, post):
    from plugins.fraud import service

    node = fraud_app.extensions["storefront_edge"]
    db = db_of(fraud_app)
    with db.conn:
        db["fraud_labels"].insert({"decision_id": "d-x", "verdict": "fraud", "device_id": "bad-dev"})
    bodies = [payment(account_id=f"guest-{i}", card_hash=f"cafecafe{i:08d}", device_id=f"phone-{i}", ip="10.0.0.1",
                      timestamp=T0 + i) for i in range(53)]  # past the fanout: the shop's wifi stops joining components
    bodies += [payment(account_id="ring-1", device_id="bad-dev", ip="10.0.0.9", timestamp=T0 + 100),
               payment(account_id="ring-2", device_id="dev-2", ip="10.0.0.2", timestamp=T0 + 101),  # walked: 3 hops
               payment(account_id="ring-3", card_hash="beef0000beef0000", device_id="dev-2", timestamp=T0 + 102),
               payment(account_id=None, card_hash="cardonly00000000", device_id="dev-9", timestamp=T0 + 103),
               payment(account_id=None, card_hash=None, device_id="dev-alone", ip="10.0.0.7", timestamp=T0 + 104),
               payment(timestamp=T0 + 8 * 86400), payment(device_id="dev-2", timestamp=T0 + 8 * 86400 + 1)]  # stale again
    answers = []
    for body in bodies:
        response = post({k: v for k, v in body.items() if v is not None})
        assert response.status_code == 200, response.get_json()
        answers.append(response.get_json()["features"])
    assert answers[52]["component_size"] == 3 and answers[54]["fraud_distance"] == 3  # the walks and joins ran
    assert (answers[58]["component_size"], answers[58]["accounts_per_device"]) == (4, 1)  # the old edges expired
    assert service.tally(node, "payments").count == len(bodies) and node.metrics.event_count("fraud", "rescored") == 0


def test_two_hundred_concurrent_prechecks_of_one_card_are_each_counted_once_and_answered_as_recorded(fraud_app,
                                                                                                   client_headers):
    import threading

    writers, answers, start = 200, [], threading.Barrier(200)

    def send(i: int) -> None:
        client = fraud_app.test_client()
        start.wait()
        response = client.post("/v1/fraud/precheck", json=payment(account_id=f"acct-{i}", event_id=f"ev-{i}"),
                               headers=client_headers)
        answers.append((response.status_code, response.get_json()))

    workers = [threading.Thread(target=send, args=(i,)) for i in range(writers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not any(worker.is_alive() for worker in workers)  # no precheck stalls behind the write lock
    assert sorted(status for status, _ in answers) == [200] * writers, [a for s, a in answers if s != 200][:3]
    # every payment counted once, and each answer reports the windows its own commit recorded (a payment that raced
    # another between its preview and its commit is scored again): the card's counts are 1..200, each once
    assert sorted(a["features"]["card_count_1h"] for _, a in answers) == list(range(1, writers + 1))
    assert count(fraud_app, "fraud_decisions") == writers
