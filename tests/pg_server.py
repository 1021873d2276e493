"""A throwaway PostgreSQL server for the hub tests, and the ``hub_backend`` fixture (sqlite, postgres).

``pg_server`` (session): finds ``initdb``/``pg_ctl`` (``/usr/lib/postgresql/*/bin`` or PATH; Debian package
``postgresql``, installed by ``make test`` as root), creates a cluster in a temporary folder with a
password (scram-sha-256), starts it on 127.0.0.1 with a free port and its socket in that folder, and stops
it (``pg_ctl stop -m immediate``) at the end of the session. initdb refuses to run as root, so as root the
cluster belongs to the ``postgres`` system user (or ``nobody``). Without binaries or such a user, the
PostgreSQL tests skip and say what is missing; a server that has what it needs but fails to start fails
the tests, with its log. Every test gets a fresh database.

Import the fixtures into a test module: ``from tests.pg_server import hub_backend, pg_server  # noqa: F401``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

USER, DATABASE_PREFIX = "hubtest", "hub_test_"
OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
           "-c shared_buffers=32MB -c listen_addresses=127.0.0.1")


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (the newest installed version), or ``None``."""
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    for folder in reversed(folders):
        if os.access(Path(folder) / "initdb", os.X_OK) and os.access(Path(folder) / "pg_ctl", os.X_OK):
            return Path(folder)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def server_user() -> str | None:
    """Who runs the server: this user when not root, else ``postgres`` or ``nobody`` (``None``: no one)."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name if shutil.which("runuser") else None
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgServer:
    """A running throwaway cluster: ``url(db)`` names a database, ``create_database()`` makes a fresh one."""

    bin: Path
    user: str
    folder: Path
    port: int
    password: str
    counter: int = 0

    def _run(self, *args, timeout: float = 60):
        prefix = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=self.folder)

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server (with the password)."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; return its URL."""
        import psycopg

        self.counter += 1
        name = f"{DATABASE_PREFIX}{os.getpid()}_{self.counter}"
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        """initdb and start on a free port (three tries if the port is taken meanwhile); fail with the log."""
        data, pwfile = self.folder / "data", self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            for path in (self.folder, pwfile):
                shutil.chown(path, self.user)
        made = self._run(self.bin / "initdb", "-D", data, "-U", USER, f"--pwfile={pwfile}", "-A", "scram-sha-256",
                         "--no-sync", "-E", "UTF8", "--locale=C")
        if made.returncode:
            pytest.fail(f"initdb failed: {made.stderr[-2000:]}")
        for _ in range(3):
            self.port = free_port()
            started = self._run(self.bin / "pg_ctl", "-D", data, "-l", self.folder / "server.log", "-w", "-t", "30",
                                "-o", f"{OPTIONS} -p {self.port} -k {self.folder}", "start")
            if started.returncode == 0:
                return
        log = (self.folder / "server.log").read_text(errors="replace")[-2000:] if (self.folder / "server.log").exists() else ""
        pytest.fail(f"PostgreSQL did not start: {started.stderr[-1000:]} {log}")

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        try:
            self._run(self.bin / "pg_ctl", "-D", self.folder / "data", "stop", "-m", "immediate", "-w", "-t", "30", timeout=60)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server for this test session (skips, saying what is missing, when none can run here)."""
    import secrets

    binaries, user = find_binaries(), server_user()
    if binaries is None:
        pytest.skip("PostgreSQL tests need initdb and pg_ctl (Debian package 'postgresql'; `make test` installs it as root)")
    if user is None:
        pytest.skip("PostgreSQL tests running as root need the 'postgres' (or 'nobody') user and runuser to run initdb")
    folder = Path(tempfile.mkdtemp(prefix="storefront-pg-"))
    server = PgServer(binaries, user, folder, 0, secrets.token_urlsafe(16))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class HubBackend:
    """Which hub store a test runs against; ``url`` is the test's own database (``None`` for SQLite)."""

    name: str
    server: PgServer | None = None
    url: str | None = None

    def fresh_url(self) -> str | None:
        """Another new database (for a test that builds several hubs); ``None`` for SQLite."""
        return self.server.create_database() if self.server else None


@pytest.fixture(params=["sqlite", "postgres"])
def hub_backend(request) -> HubBackend:
    """The hub's backend: SQLite in the data folder, or a fresh database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return HubBackend("sqlite")
    server = request.getfixturevalue("pg_server")
    return HubBackend("postgres", server, server.create_database())
