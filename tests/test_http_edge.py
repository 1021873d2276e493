"""The node's HTTP edge under a real gunicorn on loopback: framing and pre-app errors as JSON, slow clients
that cannot starve the node, and a burst of events from many clients stored exactly once."""

from __future__ import annotations

import concurrent.futures
import json
import select
import socket
import sqlite3
import time

import pytest
import requests

from tests.conftest import ADMIN_KEY, CLIENT_KEY
from tests.servers import gunicorn_node

pytestmark = pytest.mark.slow

ENV = {"STOREFRONT_EDGE_PLUGINS": "catalog,events", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT_KEY,
       "STOREFRONT_EDGE_ADMIN_KEY": ADMIN_KEY, "STOREFRONT_EDGE_BODY_TIMEOUT": "3", "STOREFRONT_EDGE_HEADER_TIMEOUT": "3"}
AUTH = f"Authorization: Bearer {CLIENT_KEY}\r\n"


@pytest.fixture(scope="module")
def node_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("edge") / "var"
    with gunicorn_node(data, ENV, ready_status=503, log=data.parent / "node.log") as (base, _):
        yield base, int(base.rsplit(":", 1)[1]), data


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return received


def raw(port: int, data: bytes, timeout: float = 10.0, half_close: bool = False) -> tuple[int, str, dict]:
    """Send ``data`` as it is; return ``(status, content type, JSON body)`` of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = _read_response(sock, timeout)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), json.loads(body[: int(headers["Content-Length"])])


def _chunked(chunks: bytes) -> bytes:
    return (b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() +
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)


EVENT = b'{"kind": "view"}'
PRE_APP = [  # (case, raw request, status)
    ("16 KB Authorization header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"k" * 16_000 + b"\r\n\r\n", 431),
    ("request line over 4 KiB", b"GET /healthz?" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("150 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150)) + b"\r\n", 431),
    ("Content-Length and Transfer-Encoding", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\n"
                                             b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + EVENT + b"\r\n0\r\n\r\n", 400),
    ("Content-Length abc", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
    ("Content-Length -1", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("two Content-Lengths", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 16\r\nContent-Length: 17\r\n\r\n" + EVENT, 400),
    ("Transfer-Encoding gzip", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ("NUL in a header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400),
    ("HTTP/9.9", b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", 400),
    ("garbage request line", b"\x16\x03\x01 hello\r\n\r\n", 400),
    ("chunk size zz", _chunked(b"zz\r\n" + EVENT + b"\r\n0\r\n\r\n"), 400),
    ("chunk longer than it says", _chunked(b"5\r\n" + EVENT + b"\r\n0\r\n\r\n"), 400),
    ("chunk cut off", _chunked(b"10\r\n" + EVENT[:6]), 400),
    ("chunked body over the JSON limit", _chunked(b"".join(b"10000\r\n" + b" " * 0x10000 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"), 413),
]


@pytest.mark.parametrize("case, data, status", PRE_APP, ids=[c[0] for c in PRE_APP])
def test_framing_and_pre_app_errors_are_json(node_server, case, data, status):
    base, port, _ = node_server
    answered, content_type, body = raw(port, data, half_close=case == "chunk cut off")
    assert (answered, content_type) == (status, "application/json"), body
    assert set(body["error"]) >= {"code", "message"} and "Traceback" not in body["error"]["message"]
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200


def _slow_body(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() +
                 b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" + b'{"kind": "view",')
    return sock


def test_slow_clients_cannot_starve_the_node(node_server):
    """Six connections each holding a thread with a body that never finishes (the issue's two sufficed):
    /healthz and a plugin route keep answering within a second, and the slow ones get 408 at their deadline."""
    base, port, _ = node_server
    slow = [_slow_body(port) for _ in range(6)]
    try:
        time.sleep(0.5)  # let the workers' threads pick them up
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        for _ in range(5):
            assert requests.get(f"{base}/healthz", timeout=1).status_code == 200
            assert requests.get(f"{base}/v1/catalog/items", headers=headers, timeout=1).status_code == 200
            assert requests.post(f"{base}/v1/events", json={"kind": "view"}, headers=headers, timeout=1).status_code == 201
        answers = [_read_response(sock, 15) for sock in slow]
    finally:
        for sock in slow:
            sock.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer and b"application/json" in answer


def test_slow_headers_get_408(node_server):
    _, port, _ = node_server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer = _read_response(sock, 15)
    assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_trickle_does_not_reset_the_deadline(node_server, phase):
    """A byte every 0.4 s would pass any idle timeout; the deadline (3 s here) still ends the request."""
    _, port, _ = node_server
    head = b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + AUTH.encode() + b"Content-Type: application/json\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head if phase == "headers" else head + b"Content-Length: 100\r\n\r\n")
        for _ in range(25):  # 10 s of trickle at most
            try:
                sock.sendall(b"X" if phase == "body" else b"X-T: 1\r\n")
            except OSError:
                break
            time.sleep(0.4)
            if select.select([sock], [], [], 0)[0]:
                break
        answer = _read_response(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in answer
    assert time.monotonic() - started < 8


def test_the_sync_worker_class_answers_pre_app_errors_in_json(tmp_path):
    with gunicorn_node(tmp_path / "var", ENV, workers=1, ready_status=503, serve_args=("--worker-class", "sync")) as (base, _):
        port = int(base.rsplit(":", 1)[1])
        status, content_type, body = raw(port, b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n")
        assert (status, content_type, body["error"]["code"]) == (400, "application/json", "malformed_request")


def _post(base: str, index: int) -> tuple[int, dict]:
    body = {"kind": "order", "payload": {"n": index}, "event_id": f"burst-{index:04d}"}
    with requests.Session() as session:
        response = session.post(f"{base}/v1/events", json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"}, timeout=60)
        return response.status_code, response.json()


def test_a_burst_of_events_from_50_clients_is_stored_exactly_once(node_server):
    """1,000 events from 50 threads over both workers, each then posted again as a retry would be."""
    base, _, data = node_server
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        first = list(pool.map(lambda i: _post(base, i), range(1000)))
        again = list(pool.map(lambda i: _post(base, i), range(1000)))
    assert [status for status, _ in first + again] == [201] * 2000
    assert [body for _, body in first] == [body for _, body in again]
    with sqlite3.connect(data / "store.db") as db:
        stored = db.execute("SELECT c.event_id, COUNT(*) FROM events e JOIN event_client_ids c ON c.id = e.id "
                            "WHERE c.event_id LIKE 'burst-%' GROUP BY c.event_id").fetchall()
        rows = db.execute("SELECT COUNT(*) FROM events WHERE payload LIKE '{\"n\":%'").fetchone()[0]
    assert len(stored) == 1000 and {count for _, count in stored} == {1} and rows == 1000
