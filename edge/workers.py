"""gunicorn workers of the node and the hub: read deadlines, and errors as JSON before the app answers.

gunicorn's ``gthread`` worker hands each readable connection to one of its threads, which then reads
the request with blocking calls and no limit in time: a client that declares ``Content-Length: 1000``
and sends 15 bytes holds that thread for ever. :class:`EdgeThreadWorker` reads every request through
:class:`DeadlineSocket`: the request line and headers must arrive within ``header_timeout`` seconds
of their first byte, the body within ``body_timeout + Content-Length / min_body_rate`` seconds of the
headers (a deadline for the whole read, not an idle timeout that a byte every few seconds would reset).
A request past its deadline is answered 408 ``request_timeout`` and its connection closed. A worker
whose threads are all busy stops accepting (see :class:`EdgeThreadWorker`).

gunicorn answers requests it cannot parse (an invalid request line, header or chunk, a request line
over ``limit_request_line``, too many or too large headers, ``HTTP/9.9``, ``Transfer-Encoding: gzip``)
from ``Worker.handle_error`` with an HTML page; :func:`write_json_error` answers them in the node's
JSON error shape instead, with the same status (400, 414, 431; 408 for a deadline).
"""

from __future__ import annotations

import errno
import json
import socket
import time
from dataclasses import dataclass

from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker, TConn
from gunicorn.workers.sync import SyncWorker

from .errors import ApiError


@dataclass(frozen=True)
class ReadLimits:
    """How long a request may take to arrive (seconds; bytes per second for large bodies)."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    min_body_rate: float = 256 * 1024
    send_timeout: float = 60.0

    def body_seconds(self, content_length: int | None) -> float:
        """The time a body of ``content_length`` bytes (unknown when chunked) may take to arrive."""
        return self.body_timeout + (content_length or 0) / self.min_body_rate


class RequestTimeout(ApiError):
    """The request (headers or body) did not arrive within its deadline."""

    status, code = 408, "request_timeout"


class DeadlineSocket:
    """The socket as gunicorn's request parser sees it: every ``recv`` bounded by one deadline."""

    def __init__(self, sock, limits: ReadLimits):
        self._sock, self.limits = sock, limits
        self.deadline, self.phase, self.timed_out = None, "headers", False

    def start(self, phase: str, seconds: float | None) -> None:
        """Begin ``phase`` (``headers``, ``body`` or ``drain``) with ``seconds`` to go (``None``: no deadline)."""
        self.phase, self.deadline = phase, None if seconds is None else time.monotonic() + seconds

    def recv(self, size: int, *flags) -> bytes:
        if self.deadline is None:  # draining: gunicorn bounds that read itself
            return self._sock.recv(size, *flags)
        try:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("deadline passed")
            self._sock.settimeout(remaining)
            return self._sock.recv(size, *flags)
        except socket.timeout:
            self.timed_out = True
            raise RequestTimeout(f"the request's {self.phase} did not arrive in time") from None
        finally:
            self._sock.settimeout(self.limits.send_timeout)

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _content_length(req) -> int | None:
    for name, value in req.headers:
        if name.upper() == "CONTENT-LENGTH" and value.isdigit():
            return int(value)
    return None


_STATUS = (  # gunicorn's parse errors → (status, reason, code); the first match wins
    ((http_errors.LimitRequestLine,), 414, "URI Too Long", "request_line_too_long"),
    ((http_errors.LimitRequestHeaders,), 431, "Request Header Fields Too Large", "headers_too_large"),
    ((http_errors.UnsupportedTransferCoding,), 400, "Bad Request", "unsupported_transfer_coding"),
    ((http_errors.InvalidChunkSize, http_errors.ChunkMissingTerminator, http_errors.InvalidChunkExtension),
     400, "Bad Request", "malformed_body"),
    ((http_errors.ForbiddenProxyRequest,), 403, "Forbidden", "forbidden"),
    ((http_errors.ExpectationFailed,), 417, "Expectation Failed", "expectation_failed"),
    ((http_errors.ParseException,), 400, "Bad Request", "malformed_request"),
)


def error_for(exc: Exception) -> tuple[int, str, str, str]:
    """``(status, reason, code, message)`` of an error raised before the app answered."""
    if isinstance(exc, ApiError):
        return exc.status, "Request Timeout" if exc.status == 408 else "Error", exc.code, exc.message
    for types, status, reason, code in _STATUS:
        if isinstance(exc, types) and not isinstance(exc, http_errors.ConfigurationProblem):
            return status, reason, code, f"{type(exc).__name__}: {str(exc)[:200]}"
    return 500, "Internal Server Error", "internal_error", "internal server error"


def write_json_error(sock, exc: Exception) -> int:
    """Write the JSON error response for ``exc`` on ``sock`` (``Connection: close``); return its status."""
    status, reason, code, message = error_for(exc)
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    try:
        sock.settimeout(1.0)
        sock.sendall(head + body)
    except OSError:
        pass
    return status


class JsonErrorsMixin:
    """``handle_error`` answering in the JSON error shape (the base class logs; this one writes)."""

    def handle_error(self, req, client, addr, exc):
        status = write_json_error(client, exc)
        if status >= 500:
            self.log.exception("Error handling request")
        else:
            self.log.warning("Invalid request from ip=%s: %s", (addr or ("",))[0], exc)


class EdgeConn(TConn):
    """A gthread connection whose parser reads through a :class:`DeadlineSocket`."""

    limits = ReadLimits()

    def init(self):
        super().init()
        unreader = getattr(self.parser, "unreader", None)
        if unreader is None:
            return
        if not isinstance(unreader.sock, DeadlineSocket):
            unreader.sock = DeadlineSocket(unreader.sock, self.limits)
        unreader.sock.start("headers", self.limits.header_timeout)


class EdgeThreadWorker(JsonErrorsMixin, ThreadWorker):
    """gthread with read deadlines, JSON errors, and no accepting while every thread has work.

    gunicorn's gthread accepts connections as long as it has fewer than ``worker_connections`` open,
    and queues them behind its threads: when slow clients hold every thread of one worker, the
    connections that worker goes on accepting wait there too, while the other worker idles. This one
    stops accepting while as many requests are queued as it has threads, so the kernel hands new
    connections to a worker that can serve them (or keeps them in the backlog until one can).
    """

    limits = ReadLimits()

    def init_process(self):
        self.queued = 0
        super().init_process()

    def set_accept_enabled(self, enabled):
        super().set_accept_enabled(enabled and self.queued < self.cfg.threads)

    def enqueue_req(self, conn):
        self.queued += 1
        super().enqueue_req(conn)
        if self.queued >= self.cfg.threads:
            self.set_accept_enabled(False)

    def finish_request(self, conn, fs):
        self.queued -= 1
        super().finish_request(conn, fs)

    def accept(self, listener):
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
                return
            raise
        self.nr_conns += 1
        client_sock.setblocking(True)
        conn = EdgeConn(self.cfg, client_sock, client_addr, listener.getsockname())
        conn.limits = self.limits
        self.enqueue_req(conn)

    def handle_request(self, req, conn):
        sock = getattr(conn.parser.unreader, "sock", None)
        if not isinstance(sock, DeadlineSocket):
            return super().handle_request(req, conn)
        sock.start("body", self.limits.body_seconds(_content_length(req)))
        keepalive = super().handle_request(req, conn)
        sock.start("drain", None)
        return keepalive and not sock.timed_out


class EdgeSyncWorker(JsonErrorsMixin, SyncWorker):
    """gunicorn's sync worker with JSON errors (for a node behind a reverse proxy)."""


WORKER_CLASSES = {"gthread": "edge.workers.EdgeThreadWorker", "sync": "edge.workers.EdgeSyncWorker"}
