"""The wire protocol: saved deltas of every format, format negotiation, and every malformed frame or header refused.

``tests/deltas/format-N.delta.zst`` were written by the code of each format (``/1`` and ``/2`` before format
``/3`` existed); ``expected.json`` holds their rows and digests. Every test of a malformed input checks the
machine code the hub answers (400 unless said otherwise) and that nothing was stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zstandard

from edge.sync import delta as wire
from edge.sync import protocol
from edge.sync.protocol import Change, Header
from tests.pg_server import hub_backend, pg_server  # noqa: F401 (fixtures)
from tests.test_sync_support import FlaskTransport, hub, publish, hub_event_ids, hub_store, make_edge, node_of, post_event, register  # noqa: F401

SAVED = Path(__file__).parent / "deltas"
EXPECTED = json.loads((SAVED / "expected.json").read_text())


@pytest.mark.parametrize("fmt", ["1", "2", "3"])
def test_a_saved_delta_of_each_format_decodes_to_its_rows_and_digest(fmt):
    delta = wire.read_file(SAVED / f"format-{fmt}.delta.zst")
    assert delta.header.format == f"storefront-edge-delta/{fmt}"
    assert delta.header.sha256 == EXPECTED["sha256"][fmt]
    assert [list(c) for c in delta.changes] == EXPECTED["changes"]
    recomputed = wire.digest_v1(delta.changes) if fmt == "1" else wire.digest(delta.changes, delta.header)
    assert recomputed == EXPECTED["sha256"][fmt]
    assert all(isinstance(c, Change) for c in delta.changes)


def test_format_3_digest_covers_the_header():
    data = (SAVED / "format-3.delta.zst").read_bytes()
    delta = wire.decode(data)
    lying = wire.Delta(delta.header.replace(to_seq=1000), list(delta.changes))  # keeps the sha256 of the true header
    with pytest.raises(wire.DeltaMismatch, match="sha256"):
        wire.decode(wire.encode(lying))
    format_2 = wire.decode((SAVED / "format-2.delta.zst").read_bytes())
    assert wire.digest(format_2.changes, format_2.header) == wire.digest(format_2.changes, format_2.header.replace(to_seq=9))  # why /3
    assert wire.digest(delta.changes, delta.header) != wire.digest(delta.changes, delta.header.replace(to_seq=9))


def test_the_hub_writes_the_newest_format_the_edge_reads():
    assert protocol.chosen_format(", ".join(protocol.READS)) == protocol.FORMAT_V3
    assert protocol.chosen_format(None) == protocol.FORMAT_V2  # an edge from before format /3 names none
    assert protocol.chosen_format("storefront-edge-delta/2, storefront-edge-delta/1") == protocol.FORMAT_V2
    assert protocol.chosen_format("storefront-edge-delta/9") is None


def _get(hub, token, path, **headers):
    return hub.test_client().get(path, headers={"Authorization": f"Bearer {token}", **headers})


def test_an_older_edge_pulls_format_2_and_reads_it_with_the_old_rules(hub, tmp_path):
    publish(hub, "catalog_items", [{"sku": "a1", "title": "Apple", "price": 1.5}])
    token = register(hub, "store-1")
    old = _get(hub, token, protocol.ROUTES["pull"] + "?since=0")  # no X-Delta-Formats: an edge of format /2
    assert old.status_code == 200
    raw = zstandard.ZstdDecompressor().decompress(old.data)
    meta = dict(wire.memory_db(raw).execute("SELECT key, value FROM meta").fetchall())
    assert json.loads(meta["format"]) == protocol.FORMAT_V2
    changes = wire.memory_db(raw).execute("SELECT * FROM changes").fetchall()
    old_digest = wire.digest(changes)  # format /2 as the older edge checks it: the rows alone
    assert json.loads(meta["sha256"]) == old_digest and len(changes) == 1
    new = _get(hub, token, protocol.ROUTES["pull"] + "?since=0", **{protocol.FORMATS_HEADER: ", ".join(protocol.READS)})
    assert wire.decode(new.data).header.format == protocol.FORMAT_V3
    refused = _get(hub, token, protocol.ROUTES["pull"] + "?since=0", **{protocol.FORMATS_HEADER: "storefront-edge-delta/9"})
    assert refused.status_code == 406 and refused.get_json()["error"]["code"] == "unsupported_format"


def _raw_delta(changes, header: Header, fmt=protocol.FORMAT) -> bytes:
    return wire.encode(wire.seal(header, changes), fmt)


def _push(hub, token, data):
    return hub.test_client().post(protocol.ROUTES["push"], data=data,
                                  headers={"Authorization": f"Bearer {token}", "Content-Type": protocol.MEDIA_TYPE})


def _event(seq, event_id="e", origin="store-1"):
    row = json.dumps({"id": f"{event_id}{seq}", "kind": "view", "payload": "{}", "created_at": "t"})
    return Change(seq, "events", f"{event_id}{seq}", "I", row, 1000 + seq, origin, 1)


def _frames():
    good = _raw_delta([_event(1)], Header(origin="store-1", epoch="e1", from_seq=1, to_seq=1, log_start=1))
    empty_content = zstandard.ZstdCompressor(write_content_size=True).compress(b"")
    flipped = good[:4] + bytes([good[4] ^ 0x01]) + good[5:]
    return {
        "zero content": (empty_content, "empty_delta"),
        "header byte 4 flipped": (flipped, "corrupt_delta"),
        "truncated": (good[: len(good) // 2], "truncated_delta"),
        "trailing bytes": (good + b"more", "corrupt_delta"),
        "garbage after the magic number": (b"\x28\xb5\x2f\xfd" + b"\x00" * 20, "truncated_delta"),
        "not SQLite": (zstandard.ZstdCompressor().compress(b"hello, not a database"), "corrupt_delta"),
        "empty body": (b"", "empty_delta"),
    }


@pytest.mark.parametrize("name", list(_frames()))
def test_malformed_frames_are_a_400_with_a_code_on_the_hub(hub, name):
    token = register(hub, "store-1")
    data, code = _frames()[name]
    response = _push(hub, token, data)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code, response.get_json()
    assert hub_event_ids(hub) == [] and hub_store(hub).cursor_of("store-1")["seq"] == 0


def test_a_bomb_is_refused_without_holding_it(monkeypatch):
    monkeypatch.setattr(wire, "MAX_UNCOMPRESSED", 1 << 20)
    bomb = zstandard.ZstdCompressor(level=19).compress(b"\x00" * (64 << 20))
    with pytest.raises(wire.DeltaTooLarge):
        wire.decode(bomb)
    with pytest.raises(wire.DeltaTooLarge):
        wire.decompress(bomb, limit=1 << 20)


def _header(**fields):
    return Header(**{"origin": "store-1", "epoch": "e1", "from_seq": 1, "to_seq": 1, "log_start": 1, **fields})


BAD_DELTAS = {
    "claims more than it carries": ([_event(4)], _header(from_seq=4, to_seq=1000), "delta_mismatch"),
    "starts after its first change": ([_event(1), _event(2)], _header(from_seq=2, to_seq=2), "delta_mismatch"),
    "a hole in the run": ([_event(1), _event(3)], _header(to_seq=3), "delta_mismatch"),
    "out of order": ([_event(2), _event(1)], _header(to_seq=2), "delta_mismatch"),
    "announces changes it lacks": ([], _header(to_seq=5), "delta_mismatch"),
    "row not JSON": ([_event(1)._replace(row="{not json")], _header(), "bad_change"),
    "row not an object": ([_event(1)._replace(row="[1, 2]")], _header(), "bad_change"),
    "clock not an integer": ([_event(1)._replace(hlc="late")], _header(), "bad_change"),
    "unknown operation": ([_event(1)._replace(op="X")], _header(), "bad_change"),
    "row nested 100,000 deep": ([_event(1)._replace(row='{"a": ' * 100_000 + "1" + "}" * 100_000)], _header(), "bad_change"),
    "row with a NUL escape": ([_event(1)._replace(row='{"id": "e1", "kind": "\\u0000"}')], _header(), "bad_change"),
    "row with a lone surrogate": ([_event(1)._replace(row='{"id": "e1", "kind": "\\ud800"}')], _header(), "bad_change"),
    "key with a NUL": ([_event(1)._replace(pk="e\x001")], _header(), "bad_change"),
}


@pytest.mark.parametrize("name", list(BAD_DELTAS))
def test_malformed_deltas_are_a_400_with_a_code_and_move_no_cursor(hub, name):
    token = register(hub, "store-1")
    changes, header, code = BAD_DELTAS[name]
    response = _push(hub, token, _raw_delta(changes, header))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == code, response.get_json()
    assert hub_event_ids(hub) == [] and hub_store(hub).cursor_of("store-1")["seq"] == 0


def test_a_header_of_the_wrong_type_is_refused():
    raw = wire.to_sqlite(wire.seal(_header(), [_event(1)]))
    conn = wire.memory_db(raw)
    conn.execute("UPDATE meta SET value = '\"1\"' WHERE key = 'from_seq'")
    with pytest.raises(wire.DeltaError) as refused:
        wire.decode(zstandard.ZstdCompressor().compress(conn.serialize()))
    assert refused.value.code == "incomplete_meta" and refused.value.status == 400


def _unappliable_snapshot() -> bytes:
    header = Header(origin="hub", epoch="h", from_seq=0, to_seq=1, kind="snapshot", tables=("catalog_items",))
    return wire.encode(wire.seal(header, [Change(1, "catalog_items", "a1", "S", "{not json", 1, "hub", 0)]))


@pytest.mark.parametrize("reply, code", [(zstandard.ZstdCompressor(write_content_size=True).compress(b""), "empty_delta"),
                                         (b"\x28\xb5\x2f\xfd\x00", "truncated_delta"),
                                         (_unappliable_snapshot(), "unappliable_delta")],
                         ids=["zero content", "truncated", "row not JSON"])
def test_a_corrupted_pull_is_one_line_on_the_node(tmp_path, reply, code):
    from click.testing import CliRunner

    from edge.cli.main import cli
    from tests.test_sync_support import make_hub

    hub = make_hub(tmp_path / "hub")
    token = register(hub, "store-1")
    make_edge(tmp_path / "edge", token)
    transport = FlaskTransport(hub)
    forward = transport.request

    def corrupt(method, url, **kw):
        response = forward(method, url, **kw)
        if "/pull" in url:
            response.content = reply
        return response

    transport.request = corrupt
    import requests

    original = requests.Session
    requests.Session = lambda: transport
    try:
        result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "edge"), "sync", "now"],
                                    env={"STOREFRONT_EDGE_HUB_URL": "http://hub.test", "STOREFRONT_EDGE_HUB_TOKEN": token})
    finally:
        requests.Session = original
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1 and f"[{code}]" in result.output, result.output


class _Reply:
    def __init__(self, status, content):
        self.status_code, self.content = status, content

    def json(self):
        return json.loads(self.content)


class _Canned:
    """A session answering every request with one canned reply."""

    def __init__(self, status, content):
        self.reply = _Reply(status, content)

    def request(self, *args, **kwargs):
        return self.reply


def test_error_messages_say_what_happened_and_name_the_hub():
    from edge.sync.client import HubBadReply, HubClient, HubFailed, HubRefused

    garbled = HubClient("http://hub.example", "n.s", session=_Canned(200, b'{"epoch": "unterminated'))
    with pytest.raises(HubBadReply, match="hub http://hub.example sent a garbled cursor reply") as bad:
        garbled.cursor()
    assert bad.value.code == "hub_bad_reply"
    failed = HubClient("http://hub.example", "n.s", session=_Canned(500, b'{"error": {"code": "internal_error", "message": "boom"}}'))
    with pytest.raises(HubFailed, match="failed on push .HTTP 500.: boom") as five:
        failed.push(b"x")
    assert five.value.code == "hub_error"
    refused = HubClient("http://hub.example", "n.s", session=_Canned(409, b'{"error": {"code": "gap", "message": "m"}}'))
    with pytest.raises(HubRefused) as four:
        refused.push(b"x")
    assert four.value.code == "gap" and "hub http://hub.example refused push" in four.value.message
    wrong = HubClient("http://hub.example", "n.s", session=_Canned(200, b'{"epoch": null, "seq": "7"}'))
    with pytest.raises(HubBadReply, match="seq is not a count"):
        wrong.cursor()


def test_pull_parameters_past_64_bits_are_a_422(hub):
    token = register(hub, "store-1")
    for query in ("since=99999999999999999999999", "since=-1", "mark_seq=x"):
        response = _get(hub, token, protocol.ROUTES["pull"] + "?" + query)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "invalid_request", query


def test_the_edge_pushes_format_2_to_a_hub_that_lists_no_formats(tmp_path):
    from edge.sync.worker import sync_once
    from tests.test_sync_support import make_hub

    hub = make_hub(tmp_path / "hub")
    edge = make_edge(tmp_path / "edge", register(hub, "store-1"))
    posted = [post_event(edge, "view", n=i) for i in range(3)]
    transport, formats = FlaskTransport(hub), []
    forward = transport.request

    def older_hub(method, url, **kw):
        response = forward(method, url, **kw)
        if url.endswith("/cursor"):
            body = response.json()
            body.pop("reads")
            response.content = json.dumps(body).encode()
        if url.endswith("/push"):
            formats.append(wire.decode(kw["data"]).header.format)
        return response

    transport.request = older_hub
    assert sync_once(node_of(edge), transport)["pushed"] == 3
    assert formats == [protocol.FORMAT_V2] and hub_event_ids(hub) == sorted(posted)
    transport.request = lambda method, url, **kw: (formats.append(wire.decode(kw["data"]).header.format)
                                                   if url.endswith("/push") else None) or forward(method, url, **kw)
    post_event(edge, "view")
    sync_once(node_of(edge), transport)
    assert formats[-1] == protocol.FORMAT_V3
